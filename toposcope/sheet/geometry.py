"""Cortical sheets: where each unit of a topographic layer sits on a 2-D surface.

A :class:`CorticalSheet` holds one (x, y) position per unit plus, for grid sheets,
the grid shape, and for conv layers laid out channel-by-space (TDANN style), the
``channel``, ``row`` and ``col`` of each unit. Distances are computed in chunks so
that sheets of hundreds of thousands of units never build an N x N matrix unless
asked to.

The TopoLoss grid follows the ``topoloss`` package exactly: ``grid_shape(n)``
gives ``(h, w)`` with ``h`` the largest divisor of ``n`` not above ``int(sqrt(n))``
and ``w = n // h``; unit ``i`` sits at row ``i // w`` and column ``i % w``, and its
position is ``x = column``, ``y = row``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError
from toposcope.sheet.torus import WRAP_COORDS, check_period, square_side, wrapped_distances

__all__ = [
    "CorticalSheet",
    "channel_space_sheet",
    "grid_shape",
    "grid_sheet",
    "shrink_factors",
    "torus_sheet",
]

#: Above this many units, :meth:`CorticalSheet.pairwise_distances` refuses to
#: build the full matrix unless ``force=True`` (8k units = 256 MB of float32).
MAX_DENSE_UNITS = 8192


def grid_shape(n: int) -> tuple[int, int]:
    """Height and width of the TopoLoss grid for ``n`` units.

    Parameters
    ----------
    n : int
        Number of units (output channels of a conv, output features of a linear).

    Returns
    -------
    (h, w) : tuple of int
        ``h`` is the largest divisor of ``n`` not above ``int(sqrt(n))``; ``w = n // h``.
        A prime ``n`` gives ``(1, n)``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ToposcopeError(f"grid_shape needs a positive unit count, got {n!r}")
    h = math.isqrt(int(n))
    while n % h:
        h -= 1
    return h, int(n) // h


def shrink_factors(factor: Any) -> tuple[float, float]:
    """Shrink factors ``(factor_h, factor_w)`` of a sheet, from one number, a pair or ``"H,W"``.

    TopoLoss blurs a sheet by shrinking it by these factors, and sheet
    downsampling keeps one unit per ``factor_h x factor_w`` block: both read the
    factors here. ``3`` -> ``(3.0, 3.0)``; ``(3, 2)`` and ``"3,2"`` -> ``(3.0, 2.0)``;
    anything else, or a factor that is not positive and finite, raises.
    """
    if isinstance(factor, str):
        text = factor
        parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
        try:
            factor = tuple(float(p) for p in parts)
        except ValueError:
            raise ToposcopeError(f"factor must be a number or 'H,W', got {text!r}") from None
        if len(factor) not in (1, 2):
            raise ToposcopeError(f"factor must be a number or 'H,W', got {text!r}")
        factor = factor[0] if len(factor) == 1 else factor
    if isinstance(factor, (int, float, np.integer, np.floating)) and not isinstance(factor, bool):
        factor = (factor, factor)
    if not isinstance(factor, (tuple, list)) or len(factor) != 2:
        raise ToposcopeError(f"factor must be a number or a pair (factor_h, factor_w), got {factor!r}")
    out = []
    for value in factor:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ToposcopeError(f"factor must hold numbers, got {factor!r}")
        value = float(value)
        if not math.isfinite(value) or value <= 0:
            raise ToposcopeError(f"factor must be positive and finite, got {factor!r}")
        out.append(value)
    return out[0], out[1]


@dataclass(frozen=True)
class CorticalSheet:
    """Positions of a layer's units on a 2-D sheet.

    Parameters
    ----------
    positions : ndarray, shape (n_units, 2)
        ``x`` (column direction) and ``y`` (row direction) of each unit, in sheet
        units (grid steps) or millimetres where the model defines them (``units``).
    grid : (h, w) or None
        Set when unit ``i`` sits at grid row ``i // w`` and column ``i % w``; lets
        figures draw the sheet as an image.
    units : str
        ``"grid"`` for TopoLoss grid steps, ``"mm"`` for TDANN / TopoLM millimetres.
    layout : str
        ``"channel"`` (one unit per channel / feature) or ``"channel_space"`` (one
        unit per channel x spatial position).
    channel, row, col : ndarray, shape (n_units,), optional
        For ``channel_space`` sheets: the conv channel and spatial position of each
        unit, in the flattening order of a ``(channel, row, col)`` activation.
    neighborhoods : ndarray, shape (n_neighborhoods, k), optional
        Unit indices of precomputed neighbourhoods shipped with a positions file.
    name : str
        The layer (module) name the sheet belongs to, if known.
    period : (px, py) or None
        Set when the sheet wraps around (a torus, as Topoformer's grids): it
        repeats every ``px`` sheet units along ``x`` and ``py`` along ``y``, and
        every distance is the shortest one over the shifted copies. The units
        must span less than one period along each axis. ``None``: a flat sheet.
    """

    positions: np.ndarray
    grid: tuple[int, int] | None = None
    units: str = "grid"
    layout: str = "channel"
    channel: np.ndarray | None = None
    row: np.ndarray | None = None
    col: np.ndarray | None = None
    neighborhoods: np.ndarray | None = field(default=None, repr=False)
    name: str = ""
    period: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != 2:
            raise ToposcopeError(
                f"sheet positions must have shape (n_units, 2), got {positions.shape}"
            )
        if not np.isfinite(positions).all():
            raise ToposcopeError(
                f"sheet positions of {self.name or 'layer'!r} contain NaN or inf; "
                "check the positions file"
            )
        if self.grid is not None and self.grid[0] * self.grid[1] != len(positions):
            raise ToposcopeError(
                f"grid {self.grid} holds {self.grid[0] * self.grid[1]} units "
                f"but {len(positions)} positions were given"
            )
        object.__setattr__(self, "positions", positions)
        if self.period is not None:
            period = check_period(self.period, what="sheet period")
            span = np.ptp(positions, axis=0) if len(positions) else np.zeros(2)
            if span[0] >= period[0] or span[1] >= period[1]:
                raise ToposcopeError(
                    f"sheet positions of {self.name or 'layer'!r} span {span[0]:.4g} x {span[1]:.4g}, "
                    f"not less than the torus period {period[0]:.4g} x {period[1]:.4g}; "
                    "give positions inside one period"
                )
            object.__setattr__(self, "period", period)
        for name in ("channel", "row", "col"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.int64)
                if value.shape != (len(positions),):
                    raise ToposcopeError(
                        f"sheet {name} must have shape ({len(positions)},), got {value.shape}"
                    )
                object.__setattr__(self, name, value)

    # -- basic properties -------------------------------------------------
    @property
    def n_units(self) -> int:
        """Number of units on the sheet."""
        return len(self.positions)

    @property
    def x(self) -> np.ndarray:
        """x (column direction) of each unit, shape (n_units,)."""
        return self.positions[:, 0]

    @property
    def y(self) -> np.ndarray:
        """y (row direction) of each unit, shape (n_units,)."""
        return self.positions[:, 1]

    @property
    def wraps(self) -> bool:
        """Whether the sheet wraps around (a torus, see ``period``)."""
        return self.period is not None

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` of the unit positions."""
        return (self.x.min(), self.x.max(), self.y.min(), self.y.max())

    def describe(self) -> str:
        """A short human description: ``"32x64 grid"`` or ``"200704 units, 9.8x9.8 mm"``."""
        if self.grid is not None:
            return f"{self.grid[0]}x{self.grid[1]} {'torus ' if self.wraps else ''}grid"
        xmin, xmax, ymin, ymax = self.extent
        return f"{self.n_units} units, {xmax - xmin:.3g}x{ymax - ymin:.3g} {self.units}"

    def unit_coords(self, layer: str) -> dict[str, tuple[str, np.ndarray]]:
        """Coordinates for the ``unit`` dim of a responses DataArray.

        Returns
        -------
        dict
            ``{name: ("unit", values)}`` for ``layer``, ``x``, ``y``; on
            channel_space sheets ``channel``, ``row``, ``col``; on torus sheets
            ``wrap_x`` and ``wrap_y``, the period (constant over the units), by
            which every analysis that reads distances knows the sheet wraps.
        """
        coords = {
            "layer": ("unit", np.full(self.n_units, layer, dtype=object)),
            "x": ("unit", self.x.astype(np.float32)),
            "y": ("unit", self.y.astype(np.float32)),
        }
        for name in ("channel", "row", "col"):
            value = getattr(self, name)
            if value is not None:
                coords[name] = ("unit", value)
        if self.period is not None:
            for name, value in zip(WRAP_COORDS, self.period):
                coords[name] = ("unit", np.full(self.n_units, value, dtype=np.float32))
        return coords

    # -- distances and neighbourhoods --------------------------------------
    def distance_blocks(
        self, block_size: int = 2048
    ) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield Euclidean distances from blocks of units to every unit.

        Parameters
        ----------
        block_size : int
            Rows per block; memory per block is ``block_size * n_units * 8`` bytes.

        Yields
        ------
        rows : slice
            The units of this block.
        distances : ndarray, shape (rows, n_units)
            Wrapped around on a torus sheet.
        """
        for start in range(0, self.n_units, block_size):
            rows = slice(start, min(start + block_size, self.n_units))
            yield rows, self._distances(self.positions[rows], self.positions)

    def _distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.period is not None:
            return wrapped_distances(a, b, self.period)
        from scipy.spatial.distance import cdist

        return cdist(a, b)

    def _tree(self) -> tuple[Any, np.ndarray]:
        """A k-d tree of the positions; periodic (``boxsize``) on a torus sheet."""
        from scipy.spatial import cKDTree

        if self.period is None:
            return cKDTree(self.positions), self.positions
        # cKDTree wants periodic data inside [0, boxsize).
        shifted = np.mod(self.positions - self.positions.min(axis=0), self.period)
        return cKDTree(shifted, boxsize=self.period), shifted

    def pairwise_distances(self, force: bool = False) -> np.ndarray:
        """All pairwise distances, shape (n_units, n_units).

        Refuses above :data:`MAX_DENSE_UNITS` units unless ``force=True``; use
        :meth:`distance_blocks` or :meth:`neighbors_within` for large sheets.
        """
        if self.n_units > MAX_DENSE_UNITS and not force:
            raise ToposcopeError(
                f"a dense distance matrix for {self.n_units} units needs "
                f"{self.n_units**2 * 8 / 1e9:.1f} GB; use distance_blocks() or pass force=True"
            )
        return self._distances(self.positions, self.positions)

    def neighbors_within(self, radius: float) -> list[np.ndarray]:
        """Indices of the units within ``radius`` of each unit (itself included).

        Uses a k-d tree, so memory scales with the number of neighbour pairs,
        not with ``n_units ** 2``; periodic on a torus sheet.
        """
        tree, points = self._tree()
        return [np.asarray(ix) for ix in tree.query_ball_point(points, r=radius)]

    def nearest_neighbors(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices of each unit's ``k`` nearest other units.

        Returns
        -------
        distances, indices : ndarray, shape (n_units, k)
            Wrapped around on a torus sheet.
        """
        if not 0 < k < self.n_units:
            raise ToposcopeError(f"k must be between 1 and {self.n_units - 1}, got {k}")
        tree, points = self._tree()
        distances, indices = tree.query(points, k=k + 1)
        return distances[:, 1:], indices[:, 1:]

    def with_name(self, name: str) -> CorticalSheet:
        """The same sheet labelled with layer ``name``."""
        from dataclasses import replace

        return replace(self, name=name)


def grid_sheet(n_units: int, name: str = "") -> CorticalSheet:
    """The TopoLoss grid sheet for ``n_units`` units (``x = i % w``, ``y = i // w``)."""
    h, w = grid_shape(n_units)
    index = np.arange(n_units)
    positions = np.stack([index % w, index // w], axis=1).astype(np.float64)
    return CorticalSheet(positions=positions, grid=(h, w), units="grid", layout="channel", name=name)


def torus_sheet(n_units: int, name: str = "") -> CorticalSheet:
    """Topoformer's sheet: ``n_units`` on a square ``s x s`` grid that wraps around.

    Unit ``i`` sits at row ``i // s`` and column ``i % s`` (``x = i % s``,
    ``y = i // s``, grid steps), the order of Topoformer's
    ``np.indices((s, s)).reshape(2, -1).T`` and of its maps' ``reshape(s, s)``;
    the period is ``s`` along both axes, so the last column neighbours the first.

    Raises
    ------
    ToposcopeError
        ``n_units`` is not a square.
    """
    side = square_side(n_units, what="a torus sheet's unit count")
    index = np.arange(side * side)
    positions = np.stack([index % side, index // side], axis=1).astype(np.float64)
    return CorticalSheet(positions=positions, grid=(side, side), units="grid", layout="channel", name=name,
                         period=(float(side), float(side)))


def channel_space_sheet(
    n_channels: int,
    height: int,
    width: int,
    positions: np.ndarray | None = None,
    units: str = "grid",
    name: str = "",
    neighborhoods: np.ndarray | None = None,
) -> CorticalSheet:
    """A sheet with one unit per channel x spatial position (TDANN layout).

    Units follow the flattening order of a ``(channel, row, col)`` activation.

    Parameters
    ----------
    n_channels, height, width : int
        Shape of the layer's output feature map.
    positions : ndarray, shape (n_channels * height * width, 2), optional
        Each unit's position, e.g. read from a TDANN positions file. When absent,
        a retinotopic default is used: the spatial map sets the coarse position
        and each spatial cell holds its channels on their TopoLoss grid, so
        ``x = col * w_c + channel % w_c`` and ``y = row * h_c + channel // w_c``
        with ``(h_c, w_c) = grid_shape(n_channels)``.
    units, name, neighborhoods
        As in :class:`CorticalSheet`.
    """
    channel, row, col = (a.ravel() for a in np.indices((n_channels, height, width)))
    n_units = n_channels * height * width
    if positions is None:
        h_c, w_c = grid_shape(n_channels)
        positions = np.stack([col * w_c + channel % w_c, row * h_c + channel // w_c], axis=1)
    else:
        positions = np.asarray(positions, dtype=np.float64)
        if len(positions) != n_units:
            raise ToposcopeError(
                f"positions hold {len(positions)} units but layer {name or '?'!r} has "
                f"{n_units} ({n_channels} channels x {height} x {width}); "
                "use the positions file made for this layer"
            )
    return CorticalSheet(
        positions=positions,
        units=units,
        layout="channel_space",
        channel=channel,
        row=row,
        col=col,
        neighborhoods=neighborhoods,
        name=name,
    )
