#!/usr/bin/env python3
"""Build seeds/shade/foundations.csv from The Pudding's allShades.csv (MIT).

Pinned tools: python3.11, numpy==2.1.3, colour-science==0.4.6.
Usage: tools/shade_build_catalog.py ALLSHADES.csv seeds/shade/foundations.csv

Rules (also in seeds/shade/README.md):
- shade label = "<specific> <name>" when both exist, else whichever exists;
- a row is a near-grey extraction error when its swatch has CIELAB chroma C*ab < 4.0
  (D65, 2 degree): those are the page background (#FEFEFE, #F3F3F0, ...) sampled instead of the
  swatch; the palest real foundations kept have C*ab >= 4.37;
- duplicate (brand, product, shade) rows keep the first one.
It also prints the hue-angle statistics of shades whose description names an undertone, from which
the undertone thresholds in src/shade/tone.rs were chosen.
"""
import csv
import re
import sys

import colour
import numpy as np

D65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
MIN_CHROMA = 4.0


def lab(hex_code):
    rgb = np.array([int(hex_code[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb), D65)


def main(src, dst):
    rows = list(csv.DictReader(open(src, newline="", encoding="utf-8")))
    seen = set()
    kept, grey, dup = [], 0, 0
    hues = {"warm": [], "neutral": [], "cool": []}
    for r in rows:
        name = r["name"] if r["name"] != "NA" else ""
        spec = r["specific"] if r["specific"] != "NA" else ""
        shade = " ".join(x for x in (spec, name) if x).strip()
        L, a, b = lab(r["hex"])
        if np.hypot(a, b) < MIN_CHROMA:
            grey += 1
            continue
        key = (r["brand"], r["product"], shade)
        if key in seen:
            dup += 1
            continue
        seen.add(key)
        kept.append((r["brand"], r["product"], shade, r["hex"].upper()))
        text = (r["description"] + " " + r["imgAlt"]).lower()
        named = [k for k in hues if re.search(r"\b" + k, text)]
        if len(named) == 1 and "undertone" in text:
            hues[named[0]].append(np.degrees(np.arctan2(b, a)))
    with open(dst, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["brand", "product", "shade", "hex"])
        w.writerows(kept)
    print(f"rows {len(rows)} kept {len(kept)} near-grey {grey} duplicate {dup}")
    for k, v in hues.items():
        print(k, len(v), "hue percentiles 10/25/50/75/90:", np.percentile(v, [10, 25, 50, 75, 90]).round(1))
    cool_max, warm_min = 59.0, 63.0
    def classify(h):
        return "cool" if h < cool_max else ("warm" if h > warm_min else "neutral")
    recalls = {k: np.mean([classify(h) == k for h in v]) for k, v in hues.items()}
    print("thresholds cool <", cool_max, "warm >", warm_min, "recall", {k: round(float(x), 3) for k, x in recalls.items()})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
