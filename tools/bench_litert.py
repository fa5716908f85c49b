#!/usr/bin/env python3
"""Median latency of MediaPipe models on LiteRT (ai-edge-litert, XNNPACK, 1 thread).

Run by `atelier bench compare` (which embeds this file and runs it in a venv holding the pinned
tools/runtime_requirements.txt). Usage:
    python bench_litert.py MODELS_DIR REPEATS STEM [STEM ...]
prints {"<stem>": median_ms, ...} as JSON on stdout. The input is the same deterministic ramp
the Rust side feeds ((i mod 255) / 255 over the flattened input), and each timed run includes
setting the input and reading every output, as atelier's forward pass does.
"""
import json
import pathlib
import statistics
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

WARMUP = 3


def median_ms(path, repeats):
    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    n = int(np.prod(inp["shape"]))
    x = ((np.arange(n) % 255) / 255.0).astype(np.float32).reshape(inp["shape"])
    outputs = [o["index"] for o in it.get_output_details()]
    times = []
    for i in range(WARMUP + repeats):
        t0 = time.perf_counter()
        it.set_tensor(inp["index"], x)
        it.invoke()
        for o in outputs:
            it.get_tensor(o)
        if i >= WARMUP:
            times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def main():
    models = pathlib.Path(sys.argv[1])
    repeats = int(sys.argv[2])
    json.dump({stem: median_ms(models / f"{stem}.tflite", repeats) for stem in sys.argv[3:]}, sys.stdout)


if __name__ == "__main__":
    main()
