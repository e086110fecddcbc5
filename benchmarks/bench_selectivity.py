"""Selectivity t-maps benchmark: five fLOC domains over 1,440 images x 25,088 units.

1,440 = the ten fLOC categories x 144 images; 25,088 = 512 x 7 x 7, a ResNet-18
layer4 in the channel-by-space (TDANN) layout. :func:`toposcope.analysis.
selectivity.tmaps` computes all five domain contrasts in one pass (per-category
sums and sums of squares, then combined). The responses are float32 in memory,
as ``toposcope.extract`` returns them. Target: < 2 s on 2 cores.

Also timed, for scale: the same five t-maps with ``scipy.stats.ttest_ind`` (one
call per contrast), and the result checked against it.

Usage::

    python benchmarks/bench_selectivity.py [--repeats 5] [--units 25088] [--per-category 144]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

CATEGORIES = ["adult", "child", "body", "limb", "house", "corridor", "word", "number", "car", "instrument"]
TARGET_SECONDS = 2.0


def responses(n_units: int, per_category: int, seed: int = 0):
    """fLOC-shaped float32 responses with a few planted face units."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    categories = np.repeat(CATEGORIES, per_category)
    data = rng.standard_normal((len(categories), n_units), dtype=np.float32)
    data[np.isin(categories, ("adult", "child")), :10] += 2.0
    return xr.DataArray(data, dims=("stimulus", "unit"), name="responses",
                        coords={"category": ("stimulus", categories),
                                "x": ("unit", (np.arange(n_units) % 224).astype(np.float32)),
                                "y": ("unit", (np.arange(n_units) // 224).astype(np.float32))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--units", type=int, default=25088)
    parser.add_argument("--per-category", type=int, default=144)
    args = parser.parse_args()

    from scipy import stats

    from toposcope.analysis.selectivity import DOMAINS, tmaps

    array = responses(args.units, args.per_category)
    contrasts = list(DOMAINS)
    tmaps(array.isel(unit=slice(0, 100)), contrasts)  # warm up imports and BLAS
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = tmaps(array, contrasts)
        times.append(time.perf_counter() - start)

    start = time.perf_counter()
    labels = array["category"].values
    data = array.values
    reference = [stats.ttest_ind(data[np.isin(labels, DOMAINS[c])], data[~np.isin(labels, DOMAINS[c])],
                                 equal_var=False).statistic for c in contrasts]
    scipy_seconds = time.perf_counter() - start
    error = float(np.max(np.abs(result.values - np.asarray(reference))))

    median = statistics.median(times)
    print(json.dumps({
        "benchmark": "tmaps, five fLOC domain contrasts",
        "n_stimuli": int(array.sizes["stimulus"]),
        "n_units": int(array.sizes["unit"]),
        "n_contrasts": len(contrasts),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "seconds_median": round(median, 3),
        "seconds_min": round(min(times), 3),
        "repeats": args.repeats,
        "target_seconds": TARGET_SECONDS,
        "meets_target": median < TARGET_SECONDS,
        "scipy_ttest_ind_seconds": round(scipy_seconds, 3),
        "max_abs_difference_vs_scipy": error,
    }, indent=1))


if __name__ == "__main__":
    main()
