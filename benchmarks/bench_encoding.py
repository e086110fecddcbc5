"""Benchmark: the story encoding-model fit against scikit-learn's RidgeCV, side by side.

The issue's scale: 10 stories x 300 TRs, 3,072 features x 4 delays, 80,000
voxels, per-voxel penalties over 10 alphas; target under 3 minutes on 2 cores
and under 6 GB, and faster than RidgeCV. The design is low-rank features
(shared latent factors, as a layer's units are) delayed 1-4 TRs; each voxel is
a random mix of them plus noise.

Each method runs in its own fresh process (so its peak RSS is its own):

- ``toposcope``: :func:`toposcope.analysis.encoding_ridge.fit_ridge`, penalties
  chosen by leave-one-story-out (himalaya, numpy backend), refit, predict the
  held-out story;
- ``sklearn``: ``RidgeCV(alphas, alpha_per_target=True)`` (its efficient
  leave-one-TR-out), fit and predict the same held-out story.

Usage::

    python benchmarks/bench_encoding.py                      # the issue's full scale
    python benchmarks/bench_encoding.py --features 768 --voxels 4000   # a quick run

Prints one JSON object: seconds and peak RSS of each, their ratio, and the
median held-out r of each.
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
    weights = rng.standard_normal((x.shape[1], args.voxels), dtype=np.float32) / np.sqrt(x.shape[1])
    y = x @ weights
    y += 2.0 * y.std(0) * rng.standard_normal(y.shape, dtype=np.float32)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    np.save(folder / "groups.npy", np.asarray(groups))


def child(folder: Path, method: str, args: argparse.Namespace) -> dict:
    import numpy as np

    x = np.load(folder / "x.npy")
    y = np.load(folder / "y.npy")
    groups = np.load(folder / "groups.npy")
    test = groups == groups.max()
    alphas = np.logspace(0, 5, args.alphas)
    start = time.perf_counter()
    if method == "toposcope":
        from toposcope.analysis.encoding_ridge import fit_ridge, paired_r

        fit = fit_ridge(x[~test], y[~test], groups[~test], alphas=alphas, n_targets_batch=args.batch,
                        dtype="float32")
        predicted = fit.predict(x[test])
    else:
        from sklearn.linear_model import RidgeCV

        from toposcope.analysis.encoding_ridge import paired_r

        model = RidgeCV(alphas=alphas, alpha_per_target=True, fit_intercept=False).fit(x[~test], y[~test])
        predicted = model.predict(x[test])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "median_r": float(np.median(paired_r(predicted, y[test])))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=10)
    parser.add_argument("--trs", type=int, default=300)
    parser.add_argument("--features", type=int, default=3072)
    parser.add_argument("--voxels", type=int, default=80000)
    parser.add_argument("--latent", type=int, default=50)
    parser.add_argument("--alphas", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10000, help="voxels per himalaya batch (memory)")
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
              "voxels": args.voxels, "alphas": args.alphas, **results}
    if "sklearn" in results:
        report["speedup_vs_sklearn"] = results["sklearn"]["seconds"] / results["toposcope"]["seconds"]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
