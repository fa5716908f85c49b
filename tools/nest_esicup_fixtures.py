#!/usr/bin/env python3
"""Copies ESICUP nesting instances into tests/fixtures/nest/, dropping the precomputed
no-fit polygons (<nfps>, <ifps> and the <polygon>s only they refer to) that make some files
larger than 1 MB. The problem, the piece and board polygons and the published solutions are
kept byte for byte. Standard library only.

usage: tools/nest_esicup_fixtures.py SOURCE_DIR  (e.g. the unpacked ESICUP data sets)
"""
import pathlib
import re
import sys

INSTANCES = ["albano", "dagli", "shirts", "swim", "marques", "shapes0"]


def main() -> None:
    src = pathlib.Path(sys.argv[1])
    dst = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "nest"
    dst.mkdir(parents=True, exist_ok=True)
    for name in INSTANCES:
        matches = list(src.rglob(f"{name}.xml"))
        if not matches:
            print(f"skip {name}: not found")
            continue
        text = matches[0].read_text(encoding="utf-8")
        for tag in ("nfps", "ifps"):
            text = re.sub(rf"\s*<{tag}>.*?</{tag}>", "", text, flags=re.S)
        problem = re.search(r"<problem>.*?</problem>", text, flags=re.S).group(0)
        used = set(re.findall(r'idPolygon="([^"]+)"', problem))

        def keep(m: re.Match) -> str:
            return m.group(0) if m.group(1) in used else ""

        text = re.sub(r'\s*<polygon id="([^"]+)".*?</polygon>', keep, text, flags=re.S)
        (dst / f"{name}.xml").write_text(text, encoding="utf-8")
        print(f"{name}: {len(text)} bytes")


if __name__ == "__main__":
    main()
