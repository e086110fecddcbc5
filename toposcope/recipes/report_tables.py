"""The metrics of ``report.md`` as compact tables: one small table per analysis, all in ``metrics.csv``.

A recipe's scalar metrics (:func:`toposcope.recipes.report.metric_rows`) are
dozens of columns; one table of them cannot be read. Each analysis gets its own
tables instead, rows model x layer (or model, when the metric is one per model),
at most :data:`MAX_COLUMNS` columns each, with headers naming what a number means
and numbers rounded for reading. The complete table, unrounded, goes to
``metrics.csv`` beside the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["MAX_COLUMNS", "metric_tables", "write_metrics_csv"]

#: Most columns of a table in the report (model and layer included); wider groups are split.
MAX_COLUMNS = 8

#: Per analysis kind, its tables: (caption, [(variable, header)]) in order. Variables a
#: result lacks are left out; those no table names go to a last "other" table.
_BAND = "chance band"
_SCORE = ("score", "chance (mean)", _BAND, "minus chance", "p (shuffles)")
_KNOWN: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {
    "smoothness": [
        ((f"{paper} smoothness score per layer (correlation of unit responses against cortical distance; "
         "chance from shuffled positions)"),
         [(f"score_{key}", _SCORE[0]), (f"score_{key}_chance", _SCORE[1]),
          (f"score_{key}_chance_low..score_{key}_chance_high", _SCORE[2]),
          (f"score_{key}_corrected", _SCORE[3]), (f"score_{key}_p", _SCORE[4])])
        for key, paper in (("toponets", "TopoNets"), ("tdann", "TDANN"))
    ] + [("Units per layer", [("n_units", "units"), ("n_constant_units", "constant units (left out)")])],
    "dimensionality": [
        ("Effective dimensionality of each layer's responses",
         [("effective_dimensionality", "effective dim."), ("decay_exponent", "eigen-spectrum decay exponent"),
          ("n_units", "units"), ("n_constant_units", "constant units (left out)")]),
    ],
    "topoloss": [("TopoLoss of each layer's weights on its sheet (lower = smoother)", [("topoloss", "TopoLoss")])],
}

_PRUNED = re.compile(r"^(?P<measure>.+) (?P<level>[0-9.eE+-]+) pruned$")
_DOWNSAMPLED = re.compile(r"^(?P<measure>.+) x(?P<level>[0-9.eE+-]+) downsampled$")
_SELECTIVE = re.compile(r"^selective (?P<contrast>.+) \(t>(?P<threshold>[0-9.]+)\)$")


def _groups(kind: str, names: list[str], level: float | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The tables of one analysis: (caption, [(variable or "low..high" pair, header)]) for the names present.

    ``level`` is the central probability of a chance band, named in its header.
    """
    groups = []
    band = f"chance {level:.0%} band" if level else "chance band"
    for caption, columns in _KNOWN.get(kind, []):
        present = [(v, band if h == _BAND else h) for v, h in columns
                   if all(part in names for part in v.split(".."))]
        if present:
            groups.append((caption, present))
    pruned = [(n, _PRUNED.match(n)) for n in names]
    pruned = [(n, f"{float(m['level']):.0%} pruned") for n, m in pruned if m]
    downsampled = [(n, f"inputs x{float(m['level']):g} downsampled") for n, m in
                   ((n, _DOWNSAMPLED.match(n)) for n in names) if m]
    intact = [(n, "intact") for n in names if n.endswith(" intact")]
    if pruned or downsampled or intact:
        measures = [m["measure"] for m in (_PRUNED.match(n) or _DOWNSAMPLED.match(n) for n in names) if m]
        measure = measures[0] if measures else intact[0][0][:-len(" intact")]
        unit = " (fraction correct)" if measure == "accuracy" else ""
        groups.append(((f"{measure.capitalize()}{unit} of the model intact, with its smallest weights pruned "
                       "(% of weights zeroed), and on downsampled inputs"), intact + pruned + downsampled))
    selective = [(n, _SELECTIVE.match(n)) for n in names]
    selective = [(n, m) for n, m in selective if m]
    if selective:
        threshold = selective[0][1]["threshold"]
        groups.append((f"% of each layer's units selective for a category (t > {threshold}), per category",
                       [(n, m["contrast"]) for n, m in selective]))
    claimed = {part for _, columns in groups for v, _ in columns for part in v.split("..")}
    other = [(n, n) for n in names if n not in claimed]
    if other:
        groups.append(("Other metrics" if groups else "Metrics", other))
    return groups


def _format(values: list[float | None], header: str) -> list[str]:
    """Cells of one column, rounded for reading on one precision per column.

    Whole numbers (counts) without decimals, p-values to 2 significant digits,
    other columns to 3 decimals below 10 and fewer above (11.9 beside 9.7, not
    9.703), and columns of tiny values in scientific notation.
    """
    import math

    finite = [v for v in values if v is not None and math.isfinite(v)]
    largest = max((abs(v) for v in finite), default=0.0)
    if finite and all(float(v).is_integer() for v in finite):
        spec = ".0f"
    elif header.startswith("p "):
        spec = ".2g"
    elif 0 < largest < 0.01:
        spec = ".2e"
    else:  # 3 decimals below 10 (0.006 beside 1.000 stays readable), fewer for larger values
        spec = ".3f" if largest < 10 else (".1f" if largest < 100 else ".0f")
    return ["" if v is None else (str(v) if not math.isfinite(v) else format(v, spec)) for v in values]


def _cells(rows: list[dict[str, float]], variable: str, header: str, percent: bool) -> list[str]:
    if ".." in variable:  # a band: two variables in one cell
        low, high = variable.split("..")
        lows = _format([r.get(low) for r in rows], header)
        highs = _format([r.get(high) for r in rows], header)
        return [f"{a}-{b}" if a and b else "" for a, b in zip(lows, highs)]
    values = [r.get(variable) for r in rows]
    if percent:
        return ["" if v is None else f"{100 * v:.1f}" for v in values]
    return _format(values, header)


def metric_tables(table: Mapping[tuple[str, str], Mapping[str, float]], kinds: Mapping[str, str],
                  levels: Mapping[str, float] | None = None) -> list[str]:
    """Markdown lines of the report's metric tables: per analysis, tables of at most :data:`MAX_COLUMNS` columns.

    Parameters
    ----------
    table : mapping of (model, layer) to {"ANALYSIS.VARIABLE": value}
        As gathered from :func:`toposcope.recipes.report.metric_rows`; layer ``"-"``
        holds the metrics that are one per model.
    kinds : mapping of str to str
        Analysis name -> its kind (``"smoothness"``, ``"efficiency"`` ...), in report order.
    levels : mapping of str to float, optional
        Analysis name -> central probability of its chance bands (a result's ``level`` attr).

    Returns
    -------
    list of str
        A ``###`` section per analysis, each table under a caption saying what its numbers are.
    """
    lines: list[str] = []
    for analysis, kind in kinds.items():
        prefix = f"{analysis}."
        rows: dict[tuple[str, str], dict[str, float]] = {}
        for key, metrics in table.items():
            mine = {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}
            if mine:
                rows[key] = mine
        if not rows:
            continue
        lines += [f"### {analysis}", ""]
        names = list(dict.fromkeys(n for metrics in rows.values() for n in metrics))
        for caption, columns in _groups(kind, names, (levels or {}).get(analysis)):
            # Rows that have any of this table's values; the layer column only where there are layers.
            used = {v for v, _ in columns for v in v.split("..")}
            keys = [k for k, metrics in rows.items() if used & set(metrics)]
            by_layer = any(layer != "-" for _, layer in keys)
            lead = ["model", "layer"] if by_layer else ["model"]
            percent = caption.startswith("%")
            # As few tables as fit, evenly filled (10 columns -> 5 + 5, not 6 + 4).
            parts = -(-len(columns) // (MAX_COLUMNS - len(lead)))
            width = -(-len(columns) // parts)
            for start in range(0, len(columns), width):
                chunk = columns[start:start + width]
                lines += [caption + (" (continued)" if start else "") + ":", ""]
                lines += ["| " + " | ".join(lead + [h for _, h in chunk]) + " |",
                          "|" + "---|" * len(lead) + "---:|" * len(chunk)]
                cells = [_cells([rows[k] for k in keys], v, h, percent) for v, h in chunk]
                for i, (model, layer) in enumerate(keys):
                    first = [model, layer] if by_layer else [model]
                    lines.append("| " + " | ".join(first + [column[i] for column in cells]) + " |")
                lines.append("")
    return lines


def write_metrics_csv(table: Mapping[tuple[str, str], Mapping[str, float]], path: Path) -> Path:
    """Write every metric, unrounded, as one row per (model, layer) and one column per metric."""
    import pandas as pd

    from toposcope.io import atomic_path

    columns = sorted({c for metrics in table.values() for c in metrics})
    frame = pd.DataFrame([{"model": m, "layer": layer, **metrics} for (m, layer), metrics in table.items()],
                         columns=["model", "layer", *columns])
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")
    return path
