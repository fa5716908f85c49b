#!/usr/bin/env python3
"""Golden outputs of the reference TFLite runtime for atelier's runtime conformance tests.

Runs LiteRT (ai-edge-litert, XNNPACK, 1 thread) on deterministic inputs for each of the five
MediaPipe models and writes tests/fixtures/runtime/goldens.json (manifest) plus one
<model>.f32 file per model (little-endian float32 samples of every output).

Pinned versions: tools/runtime_requirements.txt. Setup:
    python3 -m venv venv && venv/bin/pip install -r tools/runtime_requirements.txt
Usage (from the repository root):
    venv/bin/python tools/runtime_goldens.py            # write the goldens
    venv/bin/python tools/runtime_goldens.py --bench    # median latency per model

Inputs are reproduced exactly by the Rust tests (runtime/conformance.rs): 4 images per model,
image i from seed `model_seed * 16 + i`, a splitmix64 stream giving 16x16 blocks of colour
plus per-pixel noise, mapped to the model's input range in float64 and rounded to float32.
Batch 1 is checked against image 0; batch 4 against images 0..3 run one at a time here.
Each output also records `kernel_spread`: how far LiteRT's builtin (non-XNNPACK) kernels are
from XNNPACK on the same image, i.e. how closely two implementations from the same vendor agree.
"""
import argparse
import hashlib
import json
import pathlib
import statistics
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

MASK = (1 << 64) - 1
IMAGES = 4
BLOCK = 16
MAX_SAMPLES = 8192  # per output tensor per image; larger tensors are sampled with a stride

# (file stem, seed, input range)
MODELS = [
    ("pose_detection", 1, (-1.0, 1.0)),
    ("pose_landmark_full", 2, (0.0, 1.0)),
    ("selfie_segmentation", 3, (0.0, 1.0)),
    ("face_detection_short_range", 4, (-1.0, 1.0)),
    ("face_landmark", 5, (0.0, 1.0)),
]


def splitmix64(state):
    """Returns (new state, 64-bit output)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def make_image(seed, h, w, c, lo, hi):
    """Deterministic NHWC [1,h,w,c] float32 image (see the module docstring)."""
    state = seed
    bh, bw = -(-h // BLOCK), -(-w // BLOCK)
    blocks = []
    for _ in range(bh * bw * c):
        state, z = splitmix64(state)
        blocks.append(z >> 40)
    out = np.empty((h, w, c), dtype=np.float64)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                state, z = splitmix64(state)
                k = 3 * blocks[((y // BLOCK) * bw + x // BLOCK) * c + ch] + (z >> 40)
                out[y, x, ch] = lo + (hi - lo) * (k / float(1 << 26))
    return out.astype(np.float32)[None]


def stride_for(count):
    return 1 if count <= 4 * MAX_SAMPLES else -(-count // MAX_SAMPLES) | 1


def interpreter(path, xnnpack=True):
    kind = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_path=str(path), num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    return it


def run(it, x):
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def write_goldens(root):
    import importlib.metadata as md

    out_dir = root / "tests/fixtures/runtime"
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "reference": {
            "ai-edge-litert": md.version("ai-edge-litert"),
            "numpy": np.__version__,
            "threads": 1,
        },
        "images": IMAGES,
        "block": BLOCK,
        "models": {},
    }
    for stem, seed, (lo, hi) in MODELS:
        path = root / "models" / f"{stem}.tflite"
        data = path.read_bytes()
        it = interpreter(path)
        shape = [int(d) for d in it.get_input_details()[0]["shape"]]
        _, h, w, c = shape
        seeds = [seed * 16 + i for i in range(IMAGES)]
        images = [make_image(s, h, w, c, lo, hi) for s in seeds]
        outputs = [run(it, x) for x in images]
        # LiteRT's own kernel sets (XNNPACK vs builtin) disagree by this much on these inputs:
        # the floor any other implementation can be held to. None where the builtin kernels
        # lack an op (selfie's custom transposed convolution exists only in XNNPACK).
        try:
            builtin = interpreter(path, xnnpack=False)
            spread = [run(builtin, x) for x in images]
        except RuntimeError:
            spread = None
        details = it.get_output_details()
        entries, blob = [], []
        for k, d in enumerate(details):
            count = int(np.prod(d["shape"]))
            stride = stride_for(count)
            entries.append({
                "name": d["name"],
                "shape": [int(v) for v in d["shape"]],
                "stride": stride,
                "samples": len(range(0, count, stride)),
                "sum": [float(np.sum(o[k], dtype=np.float64)) for o in outputs],
                "max_abs": [float(np.max(np.abs(o[k]))) for o in outputs],
                "kernel_spread": None if spread is None else [
                    float(np.max(np.abs(o[k] - b[k]))) for o, b in zip(outputs, spread)
                ],
            })
        for o in outputs:
            for k, e in enumerate(entries):
                blob.append(o[k].reshape(-1)[:: e["stride"]].astype("<f4"))
        (out_dir / f"{stem}.f32").write_bytes(np.concatenate(blob).tobytes())
        manifest["models"][stem] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "input_shape": shape,
            "input_range": [lo, hi],
            "seeds": seeds,
            "outputs": entries,
        }
        print(f"{stem}: {[e['shape'] for e in entries]}", file=sys.stderr)
    (out_dir / "goldens.json").write_text(json.dumps(manifest, indent=1) + "\n")


def bench(root, repeats):
    for stem, seed, (lo, hi) in MODELS:
        it = interpreter(root / "models" / f"{stem}.tflite")
        _, h, w, c = [int(d) for d in it.get_input_details()[0]["shape"]]
        x = make_image(seed * 16, h, w, c, lo, hi)
        for _ in range(5):
            run(it, x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            run(it, x)
            times.append((time.perf_counter() - t) * 1e3)
        print(f"{stem}: median {statistics.median(times):.3f} ms over {repeats}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[1])
    parser.add_argument("--bench", action="store_true", help="time each model instead")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    if args.bench:
        bench(args.root, args.repeats)
    else:
        write_goldens(args.root)


if __name__ == "__main__":
    main()
