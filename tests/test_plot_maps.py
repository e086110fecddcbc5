"""t-map figures: panels per contrast and layer, one symmetric scale, grid vs scatter, outlines, files."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.plot.maps import MAX_COLUMNS, plot_figure5a, plot_tmap_pages, plot_tmaps, save_maps

matplotlib.use("Agg")

CONTRASTS = ["faces", "bodies", "places", "big_vs_small", "animate_vs_inanimate"]


def grid_maps(layer="it", h=8, w=12, seed=0, contrasts=CONTRASTS, peak=15.0):
    rows, cols = np.divmod(np.arange(h * w), w)
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 2, (len(contrasts), h * w))
    values[0] += peak * np.exp(-((cols - 3) ** 2 + (rows - 3) ** 2) / 4.0)
    return xr.DataArray(values, dims=("contrast", "unit"), name="t",
                        coords={"contrast": contrasts, "x": ("unit", cols), "y": ("unit", rows),
                                "layer": ("unit", [layer] * (h * w))})


def scattered_maps(n=300, seed=1):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 5, (n, 2))
    return xr.DataArray(rng.normal(0, 3, (2, n)), dims=("contrast", "unit"),
                        coords={"contrast": ["faces", "bodies"], "x": ("unit", xy[:, 0]), "y": ("unit", xy[:, 1])})


def map_axes(figure):
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


def test_one_panel_per_contrast_and_layer_with_a_symmetric_scale_per_layer():
    maps = xr.concat([grid_maps("v4", seed=0), grid_maps("it", h=6, w=10, seed=1, peak=30)], dim="unit")
    figure = plot_tmaps(maps)
    axes = map_axes(figure)
    assert len(axes) == 2 * len(CONTRASTS)
    for layer, row in (("v4", axes[:5]), ("it", axes[5:])):
        limit = float(np.abs(maps.where(maps["layer"] == layer, drop=True).values).max())
        for ax in row:
            (image,) = ax.get_images()  # grid sheet -> image
            assert image.get_clim() == pytest.approx((-limit, limit))
            assert image.get_cmap().name == "RdBu_r"
    assert [ax.get_title() for ax in axes[:5]] == ["faces", "bodies", "places", "size (big - small)",
                                                   "animacy (anim. - inanim.)"]
    # Each row names its layer and its sheet's shape, and carries a scale bar.
    assert axes[0].get_ylabel() == "v4\n8x12 grid" and axes[5].get_ylabel() == "it\n6x10 grid"
    assert any("units" in str(getattr(a, "txt_label", "")) or type(a).__name__ == "AnchoredSizeBar"
               for a in axes[0].artists)
    colorbars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 2 and "colour scale per layer" in figure._suptitle.get_text()
    # One shared scale on request, and the colour bar says so.
    shared = plot_tmaps(maps, scale="shared")
    limit = float(np.abs(maps.values).max())
    assert {ax.get_images()[0].get_clim() for ax in map_axes(shared)} == {(-limit, limit)}
    (bar,) = [ax for ax in shared.axes if ax.get_label() == "<colorbar>"]
    assert "one scale for all panels" in bar.get_ylabel()


def test_many_layers_go_on_printable_pages():
    maps = xr.concat([grid_maps(f"l{i}", seed=i) for i in range(13)], dim="unit")
    pages = plot_tmap_pages(maps, layers_per_page=6)
    assert [len(map_axes(p)) // len(CONTRASTS) for p in pages] == [6, 6, 1]
    assert [p._suptitle.get_text().endswith(f"(page {k + 1} of 3)") for k, p in enumerate(pages)] == [True] * 3
    assert map_axes(pages[1])[0].get_ylabel().startswith("l6")


def test_explicit_positions_are_drawn_as_scatter_and_vmax_is_honoured():
    figure = plot_tmaps(scattered_maps(), vmax=5)
    for ax in map_axes(figure):
        assert not ax.get_images() and ax.collections
        assert ax.collections[0].get_clim() == (-5, 5)


def test_patch_outlines_are_drawn_where_asked():
    plain = map_axes(plot_tmaps(grid_maps(), contrasts=["faces"]))[0]
    figure = plot_tmaps(grid_maps(), contrasts=["faces"], patches={"threshold": 8, "sigma": 0.5})
    outlined = map_axes(figure)[0]
    assert len(outlined.collections) > len(plain.collections)
    # The black lines are named in a key; no key where no patch was outlined.
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["patch outline: smoothed t > 8"]
    assert not plot_tmaps(grid_maps(peak=0.0), contrasts=["faces"], patches={"threshold": 30}).legends


def test_figure5a_puts_baselines_beneath_and_keeps_shared_columns():
    trained = grid_maps(peak=30)
    untrained = grid_maps(seed=2, contrasts=CONTRASTS[:3], peak=0)
    figure = plot_figure5a({"TopoNet": trained, "untrained": untrained, "baseline": grid_maps(seed=3)})
    axes = map_axes(figure)
    assert len(axes) == 3 * 3  # size and animacy missing from the untrained maps
    assert [axes[i].get_ylabel() for i in (0, 3, 6)] == ["TopoNet\nit\n8x12 grid", "untrained\nit\n8x12 grid",
                                                         "baseline\nit\n8x12 grid"]
    clims = {ax.get_images()[0].get_clim() for ax in axes}
    assert len(clims) == 1


def test_every_category_is_drawn_wrapping_to_more_rows():
    digits = [f"digit-{d}" for d in range(10)]
    maps = {"TopoNet": grid_maps(contrasts=digits, peak=30), "baseline": grid_maps(seed=3, contrasts=digits)}
    figure = plot_figure5a(maps, contrasts=digits)
    axes = map_axes(figure)
    drawn = [ax for ax in axes if ax.get_images()]
    assert len(drawn) == 2 * 10 and len(axes) == 2 * 10  # 10 -> two blocks of 5, no empty panel
    # Each block of 5 columns carries its titles above its first model row, in order.
    assert [ax.get_title() for ax in axes[:5]] + [ax.get_title() for ax in axes[10:15]] == digits
    assert [axes[i].get_ylabel().split("\n")[0] for i in (0, 5, 10, 15)] == ["TopoNet", "baseline"] * 2
    assert max(ax.get_subplotspec().colspan.stop for ax in axes) == MAX_COLUMNS
    assert len({ax.get_images()[0].get_clim() for ax in drawn}) == 1  # one shared scale, stated on its bar
    # Seven over two layers: 4 + 3 columns, the eighth slot blank; per-layer scales span a layer's wrapped rows.
    seven = xr.concat([grid_maps("v4", contrasts=digits[:7]), grid_maps("it", seed=1, contrasts=digits[:7],
                                                                          peak=40)], dim="unit")
    axes = map_axes(plot_tmaps(seven))
    drawn = [ax for ax in axes if ax.get_images()]
    assert sorted(ax.get_title() for ax in drawn if ax.get_title()) == sorted(digits[:7])
    assert len(drawn) == 2 * 7 and len(axes) == 2 * 2 * 4 and sum(not ax.axison for ax in axes) == 2
    for layer in ("v4", "it"):
        rows = [ax for ax in drawn if ax.get_ylabel().startswith(layer)]
        limit = float(np.abs(seven.where(seven["layer"] == layer, drop=True).values).max())
        assert len(rows) == 2 and all(ax.get_images()[0].get_clim() == pytest.approx((-limit, limit)) for ax in rows)
    # One row: its shared colour bar lies beneath, long enough for its label.
    (bar,) = [ax for ax in plot_figure5a(maps["TopoNet"], contrasts=digits[:5]).axes
              if ax.get_label() == "<colorbar>"]
    assert bar.get_xlabel().endswith("one scale for all panels") and not bar.get_ylabel()
    with pytest.raises(ToposcopeError, match="max_columns must be a positive integer, got 0"):
        plot_tmaps(seven, max_columns=0)


def test_save_writes_png_and_pdf(tmp_path):
    written = save_maps(plot_tmaps(grid_maps()), tmp_path / "maps.png")
    assert sorted(p.name for p in written) == ["maps.pdf", "maps.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    assert (tmp_path / "maps.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_input():
    with pytest.raises(ToposcopeError, match=r"unknown contrast 'scenes'; the maps have: 'faces'"):
        plot_tmaps(grid_maps(), contrasts=["scenes"])
    with pytest.raises(ToposcopeError, match="unknown layer 'v1'"):
        plot_tmaps(grid_maps(), layers=["v1"])
    with pytest.raises(ToposcopeError, match=r"dims \(contrast, unit\)"):
        plot_tmaps(grid_maps().expand_dims(model=["a"]))
    with pytest.raises(ToposcopeError, match="none of the contrasts"):
        plot_figure5a(grid_maps(contrasts=["word"]))
