#!/usr/bin/env python3
"""Golden results of MediaPipe 0.10.14's Python solutions for the vision tests.

Runs mp.solutions.pose (static_image_mode, model_complexity=1, segmentation),
face_detection (model_selection=0), face_mesh (static_image_mode,
refine_landmarks=False) and selfie_segmentation (model_selection=0) on
skimage.data.astronaut() and downscaled copies of the sample photos, and writes
tests/fixtures/vision/:
  <name>.png              the exact RGB input both sides read (lossless)
  <name>.golden.json      landmarks/boxes in pixels of that input
  <name>.pose_mask.png    pose segmentation, 8-bit (value * 255)
  <name>.selfie_mask.png  selfie segmentation, 8-bit
  exif_rotate90.jpg       tiny JPEG with EXIF orientation 6 (decoder test)
  astronaut_exif8.png     astronaut stored rotated with EXIF orientation 8

Setup (pinned): python3 -m venv venv && venv/bin/pip install -r tools/vision_goldens.requirements.txt
Usage: venv/bin/python tools/vision_goldens.py [--images DIR]   (DIR: the sample photos folder)
"""
import argparse
import json
import os

import mediapipe as mp
import numpy as np
from PIL import Image
from skimage import data as skdata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "vision")
MAX_SIDE = 640

PHOTOS = {
    "saif_front": "body_front/faraz_saif2_apose.jpeg",
    "ramzan_front": "body_front/faraz_ramzan2_apose.jpeg",
    "left_profile": "body_side/faraz_left_profile.jpg",
    "woman_portrait": "faces/unsplash_02_woman_typeII.jpg",
    "biden_portrait": "faces/fr_biden2_official_portrait.jpg",
}


def downscale(img):
    w, h = img.size
    s = MAX_SIDE / max(w, h)
    if s >= 1:
        return img
    return img.resize((round(w * s), round(h * s)), Image.LANCZOS)


def mask_png(mask, path):
    Image.fromarray(np.clip(np.rint(mask * 255.0), 0, 255).astype(np.uint8)).save(path)


def run(name, rgb):
    h, w = rgb.shape[:2]
    Image.fromarray(rgb).save(os.path.join(OUT, name + ".png"), optimize=True)
    golden = {"image": name + ".png", "width": w, "height": h}

    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                enable_segmentation=True) as pose:
        r = pose.process(rgb)
    if r.pose_landmarks is None:
        golden["pose"] = {"landmarks": None, "world_landmarks": None, "mask": None}
    else:
        mask_name = name + ".pose_mask.png"
        mask_png(r.segmentation_mask, os.path.join(OUT, mask_name))
        golden["pose"] = {
            "landmarks": [[l.x * w, l.y * h, l.z * w, l.visibility, l.presence]
                          for l in r.pose_landmarks.landmark],
            "world_landmarks": [[l.x, l.y, l.z] for l in r.pose_world_landmarks.landmark],
            "mask": mask_name,
        }

    with mp.solutions.face_detection.FaceDetection(model_selection=0) as fd:
        r = fd.process(rgb)
    faces = []
    for d in r.detections or []:
        b = d.location_data.relative_bounding_box
        faces.append({
            "score": d.score[0],
            "box": [b.xmin * w, b.ymin * h, b.width * w, b.height * h],
            "keypoints": [[k.x * w, k.y * h] for k in d.location_data.relative_keypoints],
        })
    golden["faces"] = faces

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=4,
                                         refine_landmarks=False) as fm:
        r = fm.process(rgb)
    golden["face_mesh"] = [[[l.x * w, l.y * h, l.z * w] for l in f.landmark]
                           for f in r.multi_face_landmarks or []]

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as ss:
        r = ss.process(rgb)
    mask_name = name + ".selfie_mask.png"
    mask_png(r.segmentation_mask, os.path.join(OUT, mask_name))
    golden["selfie_mask"] = mask_name

    with open(os.path.join(OUT, name + ".golden.json"), "w") as f:
        json.dump(golden, f, indent=None, separators=(",", ":"))
    print(name, w, h, "pose:", golden["pose"]["landmarks"] is not None,
          "faces:", len(faces), "meshes:", len(golden["face_mesh"]))


def exif_fixtures():
    # 60x40 stored landscape, red top-left quadrant; orientation 6 = rotate 90 CW to display.
    img = Image.new("RGB", (60, 40), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 30, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(os.path.join(OUT, "exif_rotate90.jpg"), quality=95, exif=exif.tobytes())
    # Astronaut stored turned 90 degrees clockwise; orientation 8 turns it back upright.
    astro = Image.fromarray(skdata.astronaut()).transpose(Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = 8
    astro.save(os.path.join(OUT, "astronaut_exif8.png"), exif=exif.tobytes(), optimize=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "data", "images"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    run("astronaut", skdata.astronaut())
    for name, rel in PHOTOS.items():
        img = downscale(Image.open(os.path.join(args.images, rel)).convert("RGB"))
        run(name, np.asarray(img))
    exif_fixtures()


if __name__ == "__main__":
    main()
