#!/usr/bin/env python3
"""Independent reference for the body model's conditioning (src/body/model.rs), computed with numpy's dense
linear algebra from the committed model file: Gaussian conditioning in log space with observation noise, sexes
mixed by likelihood when sex is unknown, log-normal medians and mixture standard deviations.

Pinned: numpy==2.4.6 (Python 3.11). Run from the repository root:
    python3 tools/body_conditioning_reference.py models/body/ansur2_body_model.json \
        tests/fixtures/body/conditioning_reference.json
"""
import json
import sys

import numpy as np

MIN_OBSERVATION_VARIANCE = 1e-10  # same floor as model.rs
CASES = [
    {"sex": "female", "observations": [
        {"column": "stature", "value": 1650.0, "sd": 0.0},
        {"column": "weightkg", "value": 620.0, "sd": 10.0}]},
    {"sex": "male", "observations": [
        {"column": "stature", "value": 1780.0, "sd": 5.0},
        {"column": "weightkg", "value": 850.0, "sd": 7.0},
        {"column": "chestbreadth", "value": 330.0, "sd": 15.0},
        {"column": "chestdepth", "value": 265.0, "sd": 15.0},
        {"column": "waistbreadth", "value": 320.0, "sd": 15.0},
        {"column": "waistdepth", "value": 250.0, "sd": 15.0},
        {"column": "hipbreadth", "value": 350.0, "sd": 15.0},
        {"column": "buttockdepth", "value": 260.0, "sd": 15.0}]},
    {"sex": None, "observations": [
        {"column": "stature", "value": 1720.0, "sd": 0.0},
        {"column": "chestcircumference", "value": 1000.0, "sd": 20.0}]},
]


def condition(model, case):
    cols = model["columns"]
    idx = [cols.index(o["column"]) for o in case["observations"]]
    x = np.array([o["value"] for o in case["observations"]])
    y = np.log(x)
    r = np.maximum((np.array([o["sd"] for o in case["observations"]]) / x) ** 2, MIN_OBSERVATION_VARIANCE)
    parts = []
    for group in model["sexes"]:
        if case["sex"] is not None and group["sex"] != case["sex"]:
            continue
        for c in group["components"]:
            mu, cov = np.array(c["mean"]), np.array(c["covariance"])
            s = cov[np.ix_(idx, idx)] + np.diag(r)
            gain = cov[:, idx] @ np.linalg.inv(s)
            m = mu + gain @ (y - mu[idx])
            v = np.clip(np.diag(cov - gain @ cov[idx, :]), 0.0, None)
            resid = y - mu[idx]
            _, logdet = np.linalg.slogdet(s)
            loglik = -0.5 * resid @ np.linalg.solve(s, resid) - 0.5 * logdet - 0.5 * len(idx) * np.log(2 * np.pi)
            parts.append((np.log(group["prior"]) + np.log(c["weight"]) + loglik, m, v))
    logw = np.array([p[0] for p in parts])
    w = np.exp(logw - logw.max())
    w /= w.sum()
    value = sum(wi * np.exp(m) for wi, (_, m, _) in zip(w, parts))
    mean = sum(wi * np.exp(m + v / 2) for wi, (_, m, v) in zip(w, parts))
    second = sum(wi * ((np.exp(v) - 1) * np.exp(2 * m + v) + np.exp(m + v / 2) ** 2) for wi, (_, m, v) in zip(w, parts))
    sd = np.sqrt(np.clip(second - mean**2, 0.0, None))
    return {**case, "value": value.tolist(), "sd": sd.tolist()}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        model = json.load(f)
    out = {"model_trained_at": model["provenance"]["trained_at"], "columns": model["columns"],
           "cases": [condition(model, c) for c in CASES]}
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)
    print(f"{len(CASES)} cases -> {sys.argv[2]}")


if __name__ == "__main__":
    main()
