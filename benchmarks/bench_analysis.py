"""Analysis benchmarks, measured side by side in one run; results printed as JSON.

1. ``smoothness``: the EXACT correlation-vs-distance curve over all pairs of a
   25,088-unit sheet (a 128 x 196 TopoLoss grid) x 1,440 stimuli, one chance
   curve included, beside TDANN's SAMPLED window protocol on the same data and
   bins, with the largest absolute difference between the two curves. Target:
   EXACT under 60 s on 2 cores and at most 2x the floor: the block matrix
   products the curve needs, timed alone in the same run. Beside them, EXACT with the default
   ``n_shuffles`` (20 shuffled-position curves, for the chance band of the
   scores): each shuffle bins every pair once more, and the run reports that
   cost per shuffle as a fraction of the one-shuffle EXACT time.
2. ``dimensionality``: effective dimensionality of 10,000 stimuli x 25,088
   units streamed from a netCDF written in chunks with ``ResponseStore``
   (opened lazily, dask-backed), in a subprocess whose peak RSS is read with
   ``resource.getrusage``; beside the floor, one in-memory ``Xc @ Xc.T`` (a
   single BLAS pass over the centred data) in another subprocess. Target:
   streamed wall time at most 1.3x the floor's, at a peak RSS under 2 GB,
   with the default memory budget (``--memory`` sets another).

Times are wall-clock with the process CPU time beside them, and the load
average is reported: on a shared machine, wall time grows with the load while
CPU time mostly does not. Data are synthetic (smooth random fields; low-rank
plus noise), made on the fly; the 1 GB file lives in a temporary folder that
is removed at the end.

Usage::

    python benchmarks/bench_analysis.py [smoothness | dimensionality | all] [--ed-stimuli N] [--memory BYTES]

``--ed-stimuli`` measures the dimensionality benchmark on fewer stimuli (a
proportionally smaller file) when the machine is too busy for the full size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _memory import peak_rss_mb

N_UNITS = 25_088
N_STIMULI_CURVE = 1_440
N_STIMULI_ED = 10_000
RANK = 60


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clock()
    return {"wall_s": round(wall - start[0], 2), "cpu_s": round(cpu - start[1], 2)}


def smooth_responses(n_stimuli: int = N_STIMULI_CURVE, sigma: float = 4.0, seed: int = 0):
    """Responses on the TopoLoss grid of N_UNITS units: one smooth random field per stimulus."""
    import xarray as xr
    from scipy.ndimage import gaussian_filter

    from toposcope.sheet import grid_sheet

    sheet = grid_sheet(N_UNITS)
    h, w = sheet.grid
    rng = np.random.default_rng(seed)
    fields = np.empty((n_stimuli, h * w), dtype=np.float32)
    for start in range(0, n_stimuli, 120):
        noise = rng.standard_normal((min(120, n_stimuli - start), h, w), dtype=np.float32)
        smooth = gaussian_filter(noise, (0, sigma, sigma), mode="wrap")
        fields[start:start + len(noise)] = smooth.reshape(len(noise), -1) + 0.05 * noise.reshape(len(noise), -1)
    return xr.DataArray(fields, dims=("stimulus", "unit"), coords=sheet.unit_coords("grid"), name="responses")


def matmul_floor(responses, block: int = 2048) -> dict:
    """Time the block products the exact curve needs (every block pair once), and nothing else.

    The unit vectors are made first (untimed); the products run as the curve runs
    them, so this is the floor of the exact curve on this machine at this moment.
    """
    from toposcope.analysis._responses import check_responses
    from toposcope.analysis.smoothness import unit_vectors

    z = unit_vectors(check_responses(responses, positions=True, one_layer=True, min_units=2))
    n = len(z)
    starts = range(0, n, block)
    start = _clock()
    for a in starts:
        za = z[a:a + block]
        for b in starts:
            if b == a:
                za @ za.T
            elif b > a:
                za @ z[b:b + block].T
    return {**_since(start), "block_pairs": len(starts) * (len(starts) + 1) // 2}


def bench_smoothness() -> dict:
    from toposcope.analysis import smoothness

    responses = smooth_responses()
    floor = matmul_floor(responses)
    window = 32.0  # a quarter of the grid's short side, the SAMPLED default
    edges = np.linspace(0.0, window * np.sqrt(2), 16)  # distances a window can hold, for both modes
    start = _clock()
    exact = smoothness.curve(responses, bins=edges, mode="exact", n_shuffles=1)
    exact_time = _since(start)
    start = _clock()
    sampled = smoothness.curve(responses, bins=edges, mode="sampled", window=window, n_shuffles=1)
    sampled_time = _since(start)
    start = _clock()
    shuffled = smoothness.curve(responses, bins=edges, mode="exact")
    shuffled_time = _since(start)
    extra = shuffled.attrs["n_shuffles"] - 1
    both = (exact.pairs.values > 0) & (sampled.pairs.values > 0)
    difference = np.abs(exact.correlation.values - sampled.correlation.values)[both]
    return {
        "benchmark": "smoothness",
        "n_units": N_UNITS,
        "n_stimuli": N_STIMULI_CURVE,
        "pairs_total": N_UNITS * (N_UNITS - 1) // 2,
        "matmul_floor": floor,
        "exact": exact_time,
        "exact_over_floor_wall": round(exact_time["wall_s"] / max(floor["wall_s"], 1e-9), 2),
        "exact_over_floor_cpu": round(exact_time["cpu_s"] / max(floor["cpu_s"], 1e-9), 2),
        "target_exact_over_floor_wall": 2.0,
        "exact_default_shuffles": {**shuffled_time, "n_shuffles": shuffled.attrs["n_shuffles"]},
        "cost_per_extra_shuffle_over_exact_cpu": round(
            (shuffled_time["cpu_s"] - exact_time["cpu_s"]) / extra / max(exact_time["cpu_s"], 1e-9), 3),
        "same_first_shuffle": bool(np.array_equal(shuffled.chance.values, exact.chance.values, equal_nan=True)),
        "sampled": {**sampled_time, "windows": sampled.attrs["n_windows"],
                    "pairs": int(sampled.pairs.sum())},
        "exact_over_sampled_wall": round(exact_time["wall_s"] / max(sampled_time["wall_s"], 1e-9), 1),
        "exact_over_sampled_cpu": round(exact_time["cpu_s"] / max(sampled_time["cpu_s"], 1e-9), 1),
        "max_abs_difference": round(float(difference.max()), 4),
        "bins_compared": int(both.sum()),
        "exact_first_bins": np.round(exact.correlation.values[:4], 3).tolist(),
        "sampled_first_bins": np.round(sampled.correlation.values[:4], 3).tolist(),
        "target_exact_wall_s": 60,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def write_low_rank(path: Path, rows_per_chunk: int = 64, seed: int = 0, n_stimuli: int = N_STIMULI_ED) -> Path:
    """Write n_stimuli x N_UNITS float32 responses (rank RANK plus noise) block by block."""
    from toposcope.io import ResponseStore

    rng = np.random.default_rng(seed)
    loadings = (rng.standard_normal((RANK, N_UNITS)) / np.sqrt(np.arange(1, RANK + 1))[:, None]).astype(np.float32)
    coords = {"stimulus_id": ("stimulus", np.arange(n_stimuli)), "x": ("unit", np.arange(N_UNITS) % 196),
              "y": ("unit", np.arange(N_UNITS) // 196)}
    store = ResponseStore(path, n_stimuli, N_UNITS, coords, {}, rows_per_chunk=rows_per_chunk)
    try:
        for start in range(0, n_stimuli, 512):
            n = min(512, n_stimuli - start)
            scores = rng.standard_normal((n, RANK), dtype=np.float32)
            block = scores @ loadings + rng.standard_normal((n, N_UNITS), dtype=np.float32) + 1.0
            store.write(start, block)
    except BaseException:
        store.abort()
        raise
    return store.close()


def _ed_streaming(path: str, memory: str = "") -> dict:
    from toposcope.analysis import dimensionality
    from toposcope.io import open_responses

    responses = open_responses(path, chunks={"stimulus": 256})
    options = {"memory": int(memory)} if memory else {}
    start = _clock()
    ed = dimensionality.effective_dimensionality(responses, **options)
    return {"ed": ed, **_since(start), "peak_rss_mb": round(peak_rss_mb(), 1)}


def _ed_floor(path: str, memory: str = "") -> dict:
    from toposcope.io import open_responses

    start = _clock()
    data = np.asarray(open_responses(path).values, dtype=np.float32)
    data -= data.mean(axis=0, dtype=np.float64).astype(np.float32)
    load = _since(start)
    start = _clock()
    gram = data @ data.T  # one BLAS pass (symmetric product) over the centred data
    floor = _since(start)
    trace = float(np.trace(gram, dtype=np.float64))
    ed = trace**2 / float(np.sum(gram.astype(np.float64) ** 2))
    return {"ed": ed, **floor, "load_and_centre_wall_s": load["wall_s"], "peak_rss_mb": round(peak_rss_mb(), 1)}


def _child(kind: str, path: Path, memory: int | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, f"_{kind}", str(path), str(memory or "")],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_dimensionality(n_stimuli: int = N_STIMULI_ED, memory: int | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="toposcope-bench-") as folder:
        start = _clock()
        path = write_low_rank(Path(folder) / "responses.nc", n_stimuli=n_stimuli)
        written = _since(start)
        streaming = _child("ed-stream", path, memory)
        floor = _child("ed-floor", path)
    return {
        "benchmark": "dimensionality",
        "n_stimuli": n_stimuli,
        "n_units": N_UNITS,
        "memory_budget": memory or "default",
        "file_gb": round(n_stimuli * N_UNITS * 4 / 1e9, 2),
        "write_wall_s": written["wall_s"],
        "streaming": streaming,
        "floor_single_pass": floor,
        "streaming_over_floor_wall": round(streaming["wall_s"] / max(floor["wall_s"], 1e-9), 2),
        "streaming_over_floor_cpu": round(streaming["cpu_s"] / max(floor["cpu_s"], 1e-9), 2),
        "ed_relative_difference": float(abs(streaming["ed"] / floor["ed"] - 1)),
        "target_streaming_over_floor_wall": 1.3,
        "target_peak_rss_mb": 2048,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] in ("_ed-stream", "_ed-floor"):
        worker = _ed_streaming if sys.argv[1] == "_ed-stream" else _ed_floor
        print(json.dumps(worker(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", default="all", choices=("smoothness", "dimensionality", "all"))
    parser.add_argument("--ed-stimuli", type=int, default=N_STIMULI_ED, help="stimuli of the dimensionality run")
    parser.add_argument("--memory", type=int, default=None, help="memory budget (bytes) of the streamed run")
    args = parser.parse_args()
    which = args.which
    if which in ("smoothness", "all"):
        print(json.dumps(bench_smoothness()), flush=True)
    if which in ("dimensionality", "all"):
        print(json.dumps(bench_dimensionality(args.ed_stimuli, args.memory)), flush=True)


if __name__ == "__main__":
    main()
