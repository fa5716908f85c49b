#!/usr/bin/env python3
"""Writes tests/fixtures/body/ansur2_holdout.csv: the ANSUR II subjects the committed body model is NOT
trained on (fold 0 of 10 by the splitmix64 hash of subjectid, as in src/body/ansur.rs `fold_of`), with
only the columns the tests use. Standard library only.

usage: python3 tools/body_make_holdout.py ../shared/data/ansur tests/fixtures/body/ansur2_holdout.csv
"""
import csv
import sys

MASK = (1 << 64) - 1
FOLDS, FOLD = 10, 0
COLUMNS = [
    # photo feature set
    "stature", "weightkg", "chestbreadth", "chestdepth", "waistbreadth", "waistdepth", "hipbreadth",
    "buttockdepth", "acromialheight", "axillaheight", "cervicaleheight",
    # landmark levels, to draw silhouettes of held-out subjects
    "chestheight", "buttockheight",
    # the measurement set
    "neckcircumferencebase", "chestcircumference", "waistcircumference", "buttockcircumference",
    "biacromialbreadth", "shoulderlength", "interscyeii", "waistbacklength", "sleeveoutseam",
    "bicepscircumferenceflexed", "wristcircumference", "thighcircumference", "calfcircumference",
    "crotchheight", "waistheightomphalion", "crotchlengthomphalion",
]


def fold_of(subject_id: int, folds: int) -> int:
    z = (subject_id + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return z % folds


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    rows = []
    for name in ("ansur2_female.csv", "ansur2_male.csv"):
        with open(f"{src}/{name}", newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if fold_of(int(r["subjectid"]), FOLDS) == FOLD:
                    rows.append([r["subjectid"], r["Gender"]] + [r[c] for c in COLUMNS])
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["subjectid", "Gender"] + COLUMNS)
        w.writerows(rows)
    print(f"{len(rows)} held-out subjects -> {out}")


if __name__ == "__main__":
    main()
