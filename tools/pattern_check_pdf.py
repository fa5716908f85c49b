#!/usr/bin/env python3
"""Reads a true-scale pattern PDF written by atelier's pattern area back with pypdf (pinned in
tools/pattern_requirements.txt) and reports what a print shop would check:

- page count and each page's media box in mm;
- the 10 cm test square on the first page: its rectangle operands times the current scale,
  in mm (must be 100 x 100);
- for every other page, the clip rectangle (printable area) in mm and that the pattern sheet
  is drawn through a form XObject, with the form's bounding box in mm.

Prints a JSON summary on stdout. Usage: pattern_check_pdf.py FILE.pdf
"""

import json
import sys

from pypdf import PdfReader

PT_PER_MM = 72.0 / 25.4


def page_ops(page):
    contents = page.get_contents()
    return contents.operations if contents is not None else []


def main(path):
    reader = PdfReader(path)
    pages = []
    for i, page in enumerate(reader.pages):
        box = page.mediabox
        info = {
            "width_mm": float(box.width) / PT_PER_MM,
            "height_mm": float(box.height) / PT_PER_MM,
            "rects_mm": [],
            "draws_form": False,
        }
        scale = 1.0
        for operands, op in page_ops(page):
            if op == b"cm":
                scale *= float(operands[0])
            elif op == b"re":
                w, h = float(operands[2]), float(operands[3])
                info["rects_mm"].append([w * scale / PT_PER_MM, h * scale / PT_PER_MM])
            elif op == b"Do":
                info["draws_form"] = True
        xobjects = page.get("/Resources", {}).get("/XObject", {})
        for name in xobjects:
            form = xobjects[name].get_object()
            bbox = [float(v) for v in form.get("/BBox", [])]
            if len(bbox) == 4:
                # Form space is already mm (the page's cm scales it).
                info["form_bbox_mm"] = [bbox[2] - bbox[0], bbox[3] - bbox[1]]
        pages.append(info)
    json.dump({"pages": pages}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
