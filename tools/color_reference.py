#!/usr/bin/env python3
"""Write tests/fixtures/color/conversions.csv with colour-science as the reference implementation.

Pinned: python3.11, numpy==2.1.3, colour-science==0.4.6.
Usage: tools/color_reference.py seeds/color/colorchecker24.csv tests/fixtures/color/conversions.csv
Columns: hex (sRGB), linear r g b, X Y Z (D65, Y of white = 1), L a b (D65),
then a D50 CIELAB triple (the ColorChecker reference of that row) and its Bradford D50 -> D65 image.
"""
import csv
import sys

import colour
import numpy as np

OBS = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]
D65, D50 = OBS["D65"], OBS["D50"]


def main(chart_csv, out):
    rows = list(csv.DictReader(open(chart_csv, newline="")))
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["hex", "r", "g", "b", "X", "Y", "Z", "L", "a", "b", "L50", "a50", "b50", "L65", "a65", "b65"])
        for r in rows:
            hx = r["hex_sRGB"]
            rgb = np.array([int(hx[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
            lin = colour.models.eotf_sRGB(rgb)
            xyz = colour.RGB_to_XYZ(lin, colour.RGB_COLOURSPACES["sRGB"], apply_cctf_decoding=False)
            lab = colour.XYZ_to_Lab(xyz, D65)
            lab50 = np.array([float(r["L"]), float(r["a"]), float(r["b"])])
            xyz50 = colour.Lab_to_XYZ(lab50, D50)
            xyz65 = colour.chromatic_adaptation(
                xyz50, colour.xy_to_XYZ(D50), colour.xy_to_XYZ(D65), method="Von Kries", transform="Bradford")
            lab65 = colour.XYZ_to_Lab(xyz65, D65)
            vals = list(lin) + list(xyz) + list(lab) + list(lab50) + list(lab65)
            w.writerow([hx] + [f"{v:.6f}" for v in vals])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
