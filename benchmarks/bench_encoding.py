"""Benchmark: the story encoding-model fit against scikit-learn's RidgeCV, side by side.

The issue's scale: 10 stories x 300 TRs, 3,072 features x 4 delays, 80,000
voxels, per-voxel penalties over 10 alphas; target under 3 minutes on 2 cores
and under 6 GB, and faster than RidgeCV. The design is low-rank features
(shared latent factors, as a layer's units are) delayed 1-4 TRs; each voxel is
a random mix of them plus noise.

Each method runs in its own fresh process (so its peak RSS is its own):

- ``toposcope``: :func:`toposcope.analysis.encoding_ridge.fit_ridge` in
  float32, penalties chosen by leave-one-story-out (closed form from one
  eigendecomposition of the training kernel), refit, predict the held-out
  story; with ``--weights`` it then also forms the (features, voxels) weights,
  timed apart (``weights_seconds``): the fit keeps them factored;
- ``sklearn``: ``RidgeCV(alphas, alpha_per_target=True)`` (its efficient
  leave-one-TR-out in kernel form, float64), fit and predict the same held-out story.

Usage::

    python benchmarks/bench_encoding.py                      # the issue's full scale
    python benchmarks/bench_encoding.py --voxels 8000        # side by side at fewer voxels
    python benchmarks/bench_encoding.py --skip-sklearn       # toposcope alone at full scale

scikit-learn's RidgeCV keeps five float64 (TRs, voxels) arrays and the float64
(features, voxels) weights: at the full scale that is about 18 GB, so compare
it at fewer voxels (both costs grow linearly with the voxels).

Prints one JSON object: wall-clock and CPU seconds and peak RSS of each, their
ratio, the median held-out r of each, and whether toposcope met the targets.
On a shared machine the CPU seconds (user + system, both BLAS threads) say
more than the wall clock.

Measured on 2 shared cores (AMD EPYC, OpenBLAS; load average 12-16 from other
jobs during both runs, so wall clocks are several times what 2 free cores give):

- ``--voxels 8000``, side by side: toposcope 180 s wall / 50 s CPU / 1.5 GB,
  RidgeCV 524 s wall / 163 s CPU / 4.0 GB: 2.9x faster (wall), 3.2x (CPU),
  same median r (0.385);
- full scale, ``--skip-sklearn``: 426 s wall / 166 s CPU / 2.8 GB peak RSS,
  median r 0.386; again at load average 5-6: 199 s wall / 153 s CPU / 2.8 GB;
- ``--voxels 8000 --skip-sklearn --weights`` (load average 6-8): 76 s wall /
  48 s CPU for the fit, then 6.9 s to form the 12,288 x 8,000 weights.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_data(folder: Path, args: argparse.Namespace, seed: int = 0) -> None:
    import numpy as np

    from toposcope.analysis.encoding import fir_delays, zscore

    rng = np.random.default_rng(seed)
    blocks, groups = [], []
    mixing = rng.standard_normal((args.latent, args.features), dtype=np.float32)
    for story in range(args.stories):
        latent = rng.standard_normal((args.trs, args.latent), dtype=np.float32)
        x = latent @ mixing + rng.standard_normal((args.trs, args.features), dtype=np.float32)
        blocks.append(fir_delays(zscore(x), (1, 2, 3, 4)).astype(np.float32))
        groups += [story] * args.trs
    x = np.vstack(blocks)
    y = np.empty((x.shape[0], args.voxels), dtype=np.float32)
    for start in range(0, args.voxels, 5000):  # 5,000 voxels' weights at a time (memory)
        block = slice(start, min(start + 5000, args.voxels))
        weights = rng.standard_normal((x.shape[1], block.stop - start), dtype=np.float32) / np.sqrt(x.shape[1])
        signal = x @ weights
        y[:, block] = signal + 2.0 * signal.std(0) * rng.standard_normal(signal.shape, dtype=np.float32)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    np.save(folder / "groups.npy", np.asarray(groups))


def child(folder: Path, method: str, args: argparse.Namespace) -> dict:
    import numpy as np

    x = np.load(folder / "x.npy")
    y = np.load(folder / "y.npy")
    groups = np.load(folder / "groups.npy")
    n_train = int(np.sum(groups != groups.max()))  # the last story is the test story: slices, not copies
    alphas = np.logspace(0, 5, args.alphas)
    extra = {}
    start, cpu = time.perf_counter(), _cpu_seconds()
    if method == "toposcope":
        from toposcope.analysis.encoding_ridge import fit_ridge, paired_r

        fit = fit_ridge(x[:n_train], y[:n_train], groups[:n_train], alphas=alphas, n_targets_batch=args.batch,
                        dtype="float32")
        predicted = fit.predict(x[n_train:])
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        if args.weights:
            del y  # keep the test rows only: the weights are n_features x n_voxels
            y = np.load(folder / "y.npy", mmap_mode="r")
            begin = time.perf_counter()
            extra["weights_shape"] = list(fit.coefs.shape)
            extra["weights_seconds"] = time.perf_counter() - begin
    else:
        from sklearn.linear_model import RidgeCV

        from toposcope.analysis.encoding_ridge import paired_r

        model = RidgeCV(alphas=alphas, alpha_per_target=True, fit_intercept=False).fit(x[:n_train], y[:n_train])
        predicted = model.predict(x[n_train:])
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "median_r": float(np.median(paired_r(predicted, np.asarray(y[n_train:])))), **extra}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=10)
    parser.add_argument("--trs", type=int, default=300)
    parser.add_argument("--features", type=int, default=3072)
    parser.add_argument("--voxels", type=int, default=80000)
    parser.add_argument("--latent", type=int, default=50)
    parser.add_argument("--alphas", type=int, default=10)
    parser.add_argument("--batch", type=int, default=None, help="voxels per block (memory; about 128 MB by default)")
    parser.add_argument("--weights", action="store_true", help="also form toposcope's weights, timed apart")
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], args)))
        return
    with tempfile.TemporaryDirectory() as folder:
        make_data(Path(folder), args)
        passed = [a for a in sys.argv[1:] if a != "--skip-sklearn"]
        results = {}
        for method in ("toposcope",) + (() if args.skip_sklearn else ("sklearn",)):
            out = subprocess.run([sys.executable, __file__, *passed, "--child", folder, method], check=True,
                                 capture_output=True, text=True).stdout
            results[method] = json.loads(out.strip().splitlines()[-1])
    report = {"stories": args.stories, "trs": args.trs, "features": args.features, "delays": 4,
              "voxels": args.voxels, "alphas": args.alphas, **results,
              "target_s": 180, "pass": results["toposcope"]["seconds"] < 180,
              "target_peak_rss_mb": 6144, "pass_memory": results["toposcope"]["peak_rss_mb"] < 6144}
    if "sklearn" in results:
        report["speedup_vs_sklearn"] = results["sklearn"]["seconds"] / results["toposcope"]["seconds"]
        report["cpu_speedup_vs_sklearn"] = results["sklearn"]["cpu_seconds"] / results["toposcope"]["cpu_seconds"]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
