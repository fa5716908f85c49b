#!/usr/bin/env python3
"""Make the small test photos in tests/fixtures/color and tests/fixtures/shade.

Pinned: python3.11, pillow==11.0.0.  Usage: tools/color_make_fixtures.py SHARED_DATA_DIR REPO_ROOT
Downscales with Lanczos and re-encodes (JPEG quality 90) so that each file stays far below 1 MB.
"""
import os
import sys

from PIL import Image

JOBS = [
    ("images/colorchecker/pedrodiamel_img-colorchecker.jpg", "tests/fixtures/color/colorchecker_hand_640.jpg", 640),
    ("images/faces/fr_biden2_official_portrait.jpg", "tests/fixtures/shade/face_biden_480.jpg", 480),
    ("images/faces/unsplash_02_woman_typeII.jpg", "tests/fixtures/shade/face_woman_480.jpg", 480),
]


def main(shared, root):
    for src, dst, side in JOBS:
        im = Image.open(os.path.join(shared, src)).convert("RGB")
        scale = side / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
        im.save(os.path.join(root, dst), quality=90)
        print(dst, im.size)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
