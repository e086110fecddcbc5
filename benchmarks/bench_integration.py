"""Fitting integration windows: the vectorised fit against ``scipy.optimize.curve_fit`` per unit.

Side by side in one run, on 36,864 units (12 layers x 3,072 units, GPT-Neo
scale) of planted windows ``theta(delta) = c (delta+1)^-a + (1-c) exp(-b delta)``
plus Gaussian noise (delta = 0..20, theta[0] = 1):

- ``toposcope.analysis.integration.fit_windows`` on all units;
- ``curve_fit`` with the same model, bounds ``a, b in [0, 10], c in [0, 1]`` and
  start ``p0 = [1, 1, 0.5]``, timed on a random subset of units (default 500) and
  extrapolated to all units (curve_fit on all 36,864 would take minutes);
- agreement on that subset: the fraction of units whose fitted squared error is
  no worse than curve_fit's plus 1e-6.

Prints one JSON object. Targets: speedup >= 100, agreement >= 0.99.

Usage::

    python benchmarks/bench_integration.py [--units 36864] [--subset 500] [--noise 0.02] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np


def planted(n_units: int, noise: float, seed: int) -> np.ndarray:
    """theta (n_units, 21) from random (a, b, c) plus noise; theta[:, 0] = 1 as in real data."""
    from toposcope.analysis.integration import window_model

    rng = np.random.default_rng(seed)
    delta = np.arange(21.0)
    a, b, c = rng.uniform(0, 4, n_units), rng.uniform(0, 3, n_units), rng.uniform(0, 1, n_units)
    theta = window_model(delta[None], a[:, None], b[:, None], c[:, None]) + rng.normal(0, noise, (n_units, 21))
    theta[:, 0] = 1.0
    return theta


def curve_fit_subset(theta: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, float, int]:
    """curve_fit on the chosen units: (SSE per unit, seconds per unit, failures)."""
    from scipy.optimize import OptimizeWarning, curve_fit

    from toposcope.analysis.integration import window_model

    delta = np.arange(theta.shape[1], dtype=np.float64)
    sse = np.full(len(index), np.inf)
    failures = 0
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        for k, i in enumerate(index):
            try:
                params, _ = curve_fit(lambda x, a, b, c: window_model(x, a, b, c), delta, theta[i],
                                      p0=[1.0, 1.0, 0.5], bounds=([0, 0, 0], [10, 10, 1]))
            except RuntimeError:
                failures += 1
                continue
            sse[k] = float(np.sum((theta[i] - window_model(delta, *params)) ** 2))
    return sse, (time.perf_counter() - start) / len(index), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=36_864)
    parser.add_argument("--subset", type=int, default=500, help="units fitted with curve_fit (timed, extrapolated)")
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="runs of the vectorised fit; the fastest counts")
    args = parser.parse_args(argv)

    import xarray as xr

    from toposcope.analysis.integration import fit_windows

    theta = planted(args.units, args.noise, args.seed)
    array = xr.DataArray(theta, dims=("unit", "delta"), coords={"delta": np.arange(theta.shape[1])})
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fit = fit_windows(array)
        times.append(time.perf_counter() - start)
    ours = min(times)
    subset = np.sort(np.random.default_rng(args.seed + 1).choice(args.units, size=args.subset, replace=False))
    reference, per_unit, failures = curve_fit_subset(theta, subset)
    excess = fit["sse"].values[subset] - reference
    agreement = float(np.mean(excess <= 1e-6))
    extrapolated = per_unit * args.units
    result = {
        "units": args.units,
        "deltas": int(theta.shape[1]),
        "noise": args.noise,
        "vectorised_seconds": round(ours, 3),
        "vectorised_seconds_all_runs": [round(t, 3) for t in times],
        "curve_fit_units_timed": args.subset,
        "curve_fit_ms_per_unit": round(1000 * per_unit, 3),
        "curve_fit_seconds_extrapolated": round(extrapolated, 1),
        "speedup": round(extrapolated / ours, 1),
        "agreement": agreement,
        "agreement_definition": "fraction of the timed units with SSE_vectorised <= SSE_curve_fit + 1e-6",
        "median_sse_difference": float(np.median(excess)),
        "max_sse_excess": float(np.max(excess)),
        "curve_fit_failures": failures,
        "median_r2": float(np.nanmedian(fit["r2"].values)),
        "meets_speedup_target": bool(extrapolated / ours >= 100),
        "meets_agreement_target": bool(agreement >= 0.99),
        "note": "curve_fit timed on the subset and extrapolated linearly to all units",
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
