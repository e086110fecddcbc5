"""Sine gratings: orientation, frequency and phase as labelled; an energy model recovers orientation."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.analysis.selectivity import orientation_tuning
from toposcope.stimuli import gratings, load, open_image
from toposcope.stimuli.gratings import grating


def test_orientation_frequency_and_phase_are_as_labelled():
    horizontal = grating(64, 0, 4)
    assert np.allclose(horizontal, horizontal[:, :1])  # constant along each row: horizontal stripes
    vertical = grating(64, 90, 4)
    assert np.allclose(vertical, vertical[:1, :])
    # Four cycles per image: the spectrum of a column peaks at frequency index 4.
    assert np.argmax(np.abs(np.fft.rfft(horizontal[:, 0] - 0.5))) == 4
    # Oblique: constant along the stripe direction (45 deg counter-clockwise, y up).
    oblique = grating(65, 45, 3)
    assert np.allclose(np.diag(oblique[::-1]), oblique[64, 0])
    assert grating(65, 30, 5, phase=90)[32, 32] == pytest.approx(1.0)
    assert grating(64, 0, 4, contrast=0.5).max() <= 0.75 + 1e-9


def test_gratings_set_is_labelled_and_reused(tmp_path):
    stimuli = gratings(4, (2, 4), 2, size=32, folder=tmp_path)
    assert len(stimuli) == 16 and stimuli.name == "gratings"
    assert list(np.unique(stimuli.labels["orientation"])) == [0, 45, 90, 135]
    assert list(stimuli.labels["spatial_frequency"][:4]) == [2, 2, 4, 4]
    assert list(stimuli.labels["phase"][:2]) == [0, 180]
    assert stimuli.categories == ["0", "45", "90", "135"]
    image = np.asarray(open_image(stimuli.items[0]))
    assert image.shape == (32, 32, 3)
    before = {p: (tmp_path / p).stat().st_mtime_ns for p in stimuli.items}
    again = gratings(4, (2, 4), 2, size=32, folder=tmp_path)
    assert again.content_hash() == stimuli.content_hash()
    assert all((tmp_path / p).stat().st_mtime_ns == t for p, t in before.items())


def test_load_gratings_by_name_uses_the_cache():
    stimuli = load("gratings", orientations=[0, 90], spatial_frequencies=[4], phases=1, size=16)
    assert len(stimuli) == 2 and "gratings" in stimuli.items[0]


def test_energy_model_units_recover_their_orientation(tmp_path):
    """Units = quadrature energy of oriented templates: orientation_tuning finds each template's angle."""
    stimuli = gratings(8, (4,), 4, size=32, folder=tmp_path)
    images = np.stack([np.asarray(open_image(p).convert("L"), dtype=np.float64) / 255 - 0.5 for p in stimuli.items])
    preferred = [0.0, 45.0, 112.5]
    energies = []
    for angle in preferred:
        even, odd = grating(32, angle, 4, 0) - 0.5, grating(32, angle, 4, 90) - 0.5
        energies.append(np.einsum("nij,ij->n", images, even) ** 2 + np.einsum("nij,ij->n", images, odd) ** 2)
    responses = xr.DataArray(np.stack(energies, axis=1), dims=("stimulus", "unit"),
                             coords={k: ("stimulus", v) for k, v in stimuli.labels.items()})
    result = orientation_tuning(responses)
    np.testing.assert_allclose(result["preferred_orientation"].values, preferred, atol=1.0)
    assert (result["orientation_selectivity"].values > 0.9).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"spatial_frequencies": (40,), "size": 64}, "aliases at 64 px"),
        ({"spatial_frequencies": (0,)}, "must be positive"),
        ({"orientations": 0}, "orientations must be a positive integer"),
        ({"contrast": 2.0}, r"contrast must be in \(0, 1\]"),
    ],
)
def test_bad_parameters(kwargs, message, tmp_path):
    with pytest.raises(ToposcopeError, match=message):
        gratings(folder=tmp_path, **kwargs)


def test_orientation_tuning_needs_orientations():
    responses = xr.DataArray(np.ones((4, 2)), dims=("stimulus", "unit"),
                             coords={"orientation": ("stimulus", [0, 90, 0, 90])})
    with pytest.raises(ToposcopeError, match="at least 3 orientations"):
        orientation_tuning(responses)
    with pytest.raises(ToposcopeError, match="needs stimulus label 'orientation'"):
        orientation_tuning(responses.drop_vars("orientation"))
