#!/usr/bin/env python3
"""Reads a DXF-AAMA file written by atelier's pattern area back with ezdxf (pinned in
tools/pattern_requirements.txt) and checks it against ASTM D6673 conventions:

- ezdxf's auditor reports no errors;
- only AAMA layers are used (1 boundary, 2 turn, 3 curve, 4 notch, 5 grade ref, 6 mirror,
  7 grain, 8 internal, 11 cutout, 13 drill, 14 sew, 15 annotation, 84 boundary copy);
- every piece block has one closed boundary polyline on layer 1 and its copy on layer 84, one
  closed sew line on layer 14, a grain line on layer 7 and the piece text (Piece Name, Size,
  Quantity, Category; a marker's pieces also name their Order);
- every block is inserted exactly once; the style text is present once in the model space.

Prints a JSON summary (blocks with their text and boundary area/size) on stdout; exits 1 and
lists the problems on stderr when a check fails.

Usage: pattern_check_dxf.py FILE.dxf
"""

import json
import math
import sys

import ezdxf

AAMA_LAYERS = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "11", "13", "14", "15", "84"}
PIECE_KEYS = ("Piece Name", "Size", "Quantity", "Category")
STYLE_KEYS = ("Style Name", "Sample Size", "Grading Rule Table", "Units")


def text_pairs(entities):
    out = {}
    for e in entities:
        if e.dxftype() == "TEXT" and ":" in e.dxf.text:
            key, value = e.dxf.text.split(":", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def area(points):
    n = len(points)
    return abs(sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
                   for i in range(n))) / 2.0


def main(path):
    problems = []
    doc = ezdxf.readfile(path)
    auditor = doc.audit()
    if auditor.has_errors:
        problems += [f"audit error: {e.message}" for e in auditor.errors]
    if doc.dxfversion != "AC1009":
        problems.append(f"expected an R12 (AC1009) file, got {doc.dxfversion}")

    msp = doc.modelspace()
    style = text_pairs(msp)
    for key in STYLE_KEYS:
        if len(style.get(key, [])) != 1:
            problems.append(f"style text '{key}:' must appear once in the model space")
    if style.get("Units", [""])[0] != "METRIC":
        problems.append("Units must be METRIC")

    inserts = {}
    for e in msp.query("INSERT"):
        inserts[e.dxf.name] = inserts.get(e.dxf.name, 0) + 1

    layers = set()
    blocks = []
    for block in doc.blocks:
        if block.name.startswith("*"):
            continue
        entities = list(block)
        for e in entities:
            layers.add(e.dxf.layer)
        polys = [e for e in entities if e.dxftype() == "POLYLINE"]
        boundary = [p for p in polys if p.dxf.layer == "1"]
        sew = [p for p in polys if p.dxf.layer == "14"]
        grain = [e for e in entities if e.dxftype() == "LINE" and e.dxf.layer == "7"]
        texts = text_pairs(entities)
        name = block.name
        if len(boundary) != 1 or not boundary[0].is_closed:
            problems.append(f"block {name}: needs exactly one closed boundary on layer 1")
            continue
        if len(sew) != 1 or not sew[0].is_closed:
            problems.append(f"block {name}: needs exactly one closed sew line on layer 14")
        if len(grain) != 1:
            problems.append(f"block {name}: needs one grain line on layer 7")
        for key in PIECE_KEYS:
            if len(texts.get(key, [])) != 1:
                problems.append(f"block {name}: piece text '{key}:' missing or repeated")
        if inserts.get(name, 0) != 1:
            problems.append(f"block {name}: inserted {inserts.get(name, 0)} times, expected once")
        pts = [(v.dxf.location.x, v.dxf.location.y) for v in boundary[0].vertices]
        copy = [p for p in polys if p.dxf.layer == "84"]
        if len(copy) != 1 or [(v.dxf.location.x, v.dxf.location.y) for v in copy[0].vertices] != pts:
            problems.append(f"block {name}: layer 84 must hold one copy of the layer-1 boundary")
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        blocks.append({
            "name": name,
            "piece": texts.get("Piece Name", [""])[0],
            "size": texts.get("Size", [""])[0],
            "quantity": texts.get("Quantity", [""])[0],
            "category": texts.get("Category", [""])[0],
            "order": texts.get("Order", [""])[0],
            "boundary_vertices": len(pts),
            "boundary_area_mm2": area(pts),
            "boundary_width_mm": max(xs) - min(xs),
            "boundary_height_mm": max(ys) - min(ys),
            "notches": sum(1 for e in entities if e.dxftype() == "POINT" and e.dxf.layer == "4"),
            "drill_holes": sum(1 for e in entities if e.dxftype() == "POINT" and e.dxf.layer == "13"),
        })
    stray = sorted(layers - AAMA_LAYERS)
    if stray:
        problems.append(f"non-AAMA layers used: {stray}")
    for name in inserts:
        if name not in {b["name"] for b in blocks}:
            problems.append(f"INSERT of unknown block {name}")

    json.dump({
        "ezdxf": ezdxf.__version__,
        "audit_errors": len(auditor.errors),
        "audit_fixes": len(auditor.fixes),
        "layers": sorted(layers),
        "style": {k: v[0] for k, v in style.items() if k in STYLE_KEYS},
        "blocks": blocks,
        "problems": problems,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
