"""Sine gratings made in code: orientations x spatial frequencies x phases.

For orientation-preference maps (see
:func:`toposcope.analysis.selectivity.orientation_tuning`). Images are written
once as 8-bit PNGs to a folder keyed by the parameters, so extraction (which
reads files) and its cache treat them like any other image set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from toposcope._validation import ToposcopeError, check_positive_int
from toposcope.stimuli.core import StimulusSet, from_paths
from toposcope.stimuli.manifests import default_data_dir

__all__ = ["grating", "gratings"]


def grating(
    size: int, orientation: float, spatial_frequency: float, phase: float = 0.0, contrast: float = 1.0
) -> np.ndarray:
    """One sine grating.

    Parameters
    ----------
    size : int
        Image side in pixels.
    orientation : float
        Degrees counter-clockwise from horizontal that the stripes run along
        (0 = horizontal stripes, 90 = vertical stripes); 180-periodic.
    spatial_frequency : float
        Cycles per image side.
    phase : float
        Degrees; the luminance at the image centre is ``0.5 + 0.5 * contrast * sin(phase)``.
    contrast : float
        Michelson contrast in [0, 1].

    Returns
    -------
    ndarray, shape (size, size), float64 in [0, 1]
    """
    # Centred coordinates with y pointing up, in image-side units.
    coords = (np.arange(size) - (size - 1) / 2) / size
    x, y = np.meshgrid(coords, -coords)
    theta = np.deg2rad(orientation)
    # Luminance varies along the normal to the stripes.
    along_normal = -x * np.sin(theta) + y * np.cos(theta)
    wave = np.sin(2 * np.pi * spatial_frequency * along_normal + np.deg2rad(phase))
    return 0.5 + 0.5 * contrast * wave


def gratings(
    orientations: int | Sequence[float] = 8,
    spatial_frequencies: Sequence[float] = (4, 8, 16, 32),
    phases: int | Sequence[float] = 4,
    *,
    size: int = 224,
    contrast: float = 1.0,
    folder: str | Path | None = None,
) -> StimulusSet:
    """A labelled set of sine gratings.

    Parameters
    ----------
    orientations : int or sequence of float
        A count ``n`` (evenly spaced over [0, 180): ``0, 180/n, ...``) or the degrees.
    spatial_frequencies : sequence of float
        Cycles per image side.
    phases : int or sequence of float
        A count (evenly spaced over [0, 360)) or the degrees.
    size : int
        Image side in pixels.
    contrast : float
        Michelson contrast in (0, 1].
    folder : path, optional
        Where the PNGs go; ``$TOPOSCOPE_CACHE/stimuli/gratings/<parameters hash>`` by default.

    Returns
    -------
    StimulusSet
        ``n_orientations * n_frequencies * n_phases`` images, orientation slowest;
        labels ``orientation`` (deg), ``spatial_frequency`` (cycles/image), ``phase``
        (deg) and ``category`` = the orientation as text (``"22.5"``).
    """
    check_positive_int("size", size)
    orientations = _values("orientations", orientations, 180.0)
    phases = _values("phases", phases, 360.0)
    frequencies = [float(f) for f in spatial_frequencies]
    if not frequencies or min(frequencies) <= 0:
        raise ToposcopeError(f"spatial_frequencies must be positive cycles per image, got {frequencies}")
    if max(frequencies) > size / 2:
        raise ToposcopeError(
            f"spatial frequency {max(frequencies):g} cycles/image aliases at {size} px "
            f"(Nyquist {size / 2:g}); lower it or raise size"
        )
    if not 0 < contrast <= 1:
        raise ToposcopeError(f"contrast must be in (0, 1], got {contrast!r}")
    params = {"o": orientations, "f": frequencies, "p": phases, "size": size, "c": contrast}
    key = hashlib.sha256(json.dumps(params).encode()).hexdigest()[:16]
    folder = Path(folder) if folder is not None else default_data_dir("gratings") / key
    folder.mkdir(parents=True, exist_ok=True)
    grid = np.array(np.meshgrid(orientations, frequencies, phases, indexing="ij")).reshape(3, -1).T
    paths = []
    for orientation, frequency, phase in grid:
        path = folder / f"grating_o{orientation:g}_f{frequency:g}_p{phase:g}.png"
        if not path.is_file():
            _save(grating(size, orientation, frequency, phase, contrast), path)
        paths.append(path)
    labels = {
        "orientation": grid[:, 0],
        "spatial_frequency": grid[:, 1],
        "phase": grid[:, 2],
        "stimulus_id": [p.stem for p in paths],
    }
    categories = np.asarray([f"{o:g}" for o in grid[:, 0]], dtype=object)
    return from_paths(paths, categories, name="gratings", labels=labels)


def _values(name: str, value: int | Sequence[float], period: float) -> list[float]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        check_positive_int(name, int(value))
        return [period * i / int(value) for i in range(int(value))]
    values = [float(v) % period for v in value]
    if not values:
        raise ToposcopeError(f"{name} is empty; give a count or at least one value in degrees")
    return values


def _save(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    pixels = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    # Write beside and rename, so a concurrent or interrupted run never leaves half a PNG.
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(pixels).save(tmp, format="PNG")
    tmp.replace(path)
