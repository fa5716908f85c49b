#!/usr/bin/env python3
"""Writes real person masks (white person on black PNG) for the body area's silhouette tests, from the
sample photos in ../shared/data/images with MediaPipe Pose segmentation (a reference implementation nobody
here wrote).

Pinned (as resolved on Python 3.11): mediapipe==0.10.14, numpy==2.4.6, pillow==13.0.0. Run from the repository root:
    python3 tools/body_make_masks.py ../shared/data/images tests/fixtures/body
"""
import sys

import mediapipe as mp
import numpy as np
from PIL import Image, ImageOps

PHOTOS = {
    "mask_front_saif2.png": "body_front/faraz_saif2_apose.jpeg",
    "mask_side_left.png": "body_side/faraz_left_profile.jpg",
}
MAX_SIDE = 800  # keeps each fixture small


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True) as pose:
        for name, rel in PHOTOS.items():
            image = ImageOps.exif_transpose(Image.open(f"{src}/{rel}")).convert("RGB")
            scale = MAX_SIDE / max(image.size)
            if scale < 1:
                image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
            result = pose.process(np.asarray(image))
            if result.segmentation_mask is None:
                raise SystemExit(f"no person found in {rel}")
            mask = (result.segmentation_mask > 0.5).astype(np.uint8) * 255
            Image.fromarray(mask, mode="L").save(f"{out}/{name}", optimize=True)
            print(f"{rel} -> {out}/{name} {mask.shape[1]}x{mask.shape[0]}")


if __name__ == "__main__":
    main()
