"""TopoLoss against the authors' ``topoloss`` package, per-layer tables, and the training penalty."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from toposcope._validation import ToposcopeError
from toposcope.analysis.topoloss import TopoLossPenalty, topoloss_of_weight, weight_sheet
from toposcope.models.subject import from_module
from toposcope.workflows.topoloss import layer_topoloss

topoloss = pytest.importorskip("topoloss")

TOL = 1e-6


def reference(layer: nn.Module, factor_h: float, factor_w: float, interpolation: str = "bilinear") -> float:
    """The authors' TopoLoss of ``layer`` (unscaled)."""
    model = nn.Sequential(layer)
    loss = topoloss.TopoLoss([topoloss.LaplacianPyramid(layer_name="0", factor_h=factor_h, factor_w=factor_w,
                                                        interpolation=interpolation)])
    return float(loss.compute(model).detach())


# The reference checks factor_h against the input size and factor_w against the sheet
# height (an indexing slip); every case below satisfies both its checks and ours.
CASES = [
    ("conv 16 -> 4x4", lambda: nn.Conv2d(3, 16, 3), (3.0, 3.0)),
    ("conv 12 -> 3x4", lambda: nn.Conv2d(4, 12, 1), (2.0, 3.0)),
    ("conv 50 -> 5x10", lambda: nn.Conv2d(4, 50, 3), (2.5, 1.7)),
    ("conv 64 -> 8x8", lambda: nn.Conv2d(8, 64, 5), (3.0, 3.0)),
    ("linear prime 13 -> 1x13", lambda: nn.Linear(10, 13), (1.0, 0.5)),
    ("linear prime 7 -> 1x7", lambda: nn.Linear(5, 7), (1.0, 1.0)),
    ("linear 30 -> 5x6", lambda: nn.Linear(7, 30), (2.0, 2.5)),
    ("linear 128 -> 8x16", lambda: nn.Linear(20, 128), (3.0, 3.0)),
    ("linear 1000 -> 25x40", lambda: nn.Linear(20, 1000), (8.0, 8.0)),
]


@pytest.mark.parametrize("name, make, factor", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_the_authors_package(name, make, factor, seed):
    torch.manual_seed(seed)
    layer = make()
    ours = float(topoloss_of_weight(layer.weight, *factor).detach())
    assert ours == pytest.approx(reference(layer, *factor), abs=TOL)


@pytest.mark.parametrize("interpolation", ["bicubic", "nearest", "area"])
def test_other_interpolations_match(interpolation):
    torch.manual_seed(3)
    layer = nn.Linear(9, 48)
    ours = float(topoloss_of_weight(layer.weight, 2.0, 3.0, interpolation).detach())
    assert ours == pytest.approx(reference(layer, 2.0, 3.0, interpolation), abs=TOL)


def test_smooth_sheet_has_zero_loss_and_gradients_flow():
    # Every unit carries the same weight direction: the blur changes nothing.
    weight = torch.ones(24, 5, requires_grad=True)
    loss = topoloss_of_weight(weight, 2.0, 2.0).detach()
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    noisy = torch.randn(24, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    topoloss_of_weight(noisy, 2.0, 2.0).backward()
    assert noisy.grad is not None and torch.isfinite(noisy.grad).all() and noisy.grad.abs().sum() > 0


def test_sheet_layout_is_row_major():
    weight = torch.arange(12.0)[:, None].repeat(1, 2)  # unit i carries value i
    sheet = weight_sheet(weight)
    assert sheet.shape == (3, 4, 2)
    assert sheet[1, 2, 0] == 6  # row 1, column 2 of a 3x4 grid is unit 1 * 4 + 2


def test_transposed_conv1d_weight_equals_linear():
    torch.manual_seed(0)
    layer = nn.Linear(6, 20)
    stored_in_out = layer.weight.detach().t().contiguous()  # transformers' Conv1D layout
    plain = float(topoloss_of_weight(layer.weight, 2.0, 2.0).detach())
    assert float(topoloss_of_weight(stored_in_out, 2.0, 2.0, transpose=True)) == pytest.approx(plain, abs=TOL)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"factor_h": 3.0, "factor_w": 3.0}, r"larger than the 1x7 sheet of 7 units; use factors at most \(1, 7\)"),
        ({"factor_h": -1.0, "factor_w": 1.0}, "factor must be positive"),
        ({"factor_h": 1.0, "factor_w": 1.0, "interpolation": "linear"}, "unknown interpolation 'linear'"),
    ],
)
def test_bad_arguments_raise_one_line(kwargs, message):
    with pytest.raises(ToposcopeError, match=message):
        topoloss_of_weight(torch.zeros(7, 3), **kwargs)


def test_transpose_needs_a_matrix():
    with pytest.raises(ToposcopeError, match="transpose=True needs a 2-D"):
        topoloss_of_weight(torch.zeros(4, 3, 2, 2), transpose=True)


class Conv1D(nn.Module):
    """The transformers GPT-2 ``Conv1D``: a linear layer with its weight stored (in, out)."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 12, 3)
        self.fc = nn.Linear(12, 30)
        self.mlp = Conv1D(30, 30)  # square: only the module type says it is transposed
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x).mean(dim=(2, 3))
        return self.act(self.mlp(self.fc(x)))


def test_layer_topoloss_table():
    model = Mixed()
    subject = from_module(model, ["conv", "fc", "mlp"], input_shape=(3, 8, 8), name="mixed")
    table = layer_topoloss(subject, factor=(2.0, 2.0))
    assert table.dims == ("layer",) and table.name == "topoloss"
    assert list(table["layer"].values) == ["conv", "fc", "mlp"]
    assert list(table["n_units"].values) == [12, 30, 30]
    assert list(table["grid_h"].values) == [3, 5, 5] and list(table["grid_w"].values) == [4, 6, 6]
    assert table.attrs["factor_h"] == 2.0 and table.attrs["model"] == "mixed"
    assert float(table.sel(layer="conv")) == pytest.approx(reference(model.conv, 2.0, 2.0), abs=TOL)
    assert float(table.sel(layer="fc")) == pytest.approx(reference(model.fc, 2.0, 2.0), abs=TOL)
    as_linear = nn.Linear(30, 30)
    with torch.no_grad():
        as_linear.weight.copy_(model.mlp.weight.t())
    assert float(table.sel(layer="mlp")) == pytest.approx(reference(as_linear, 2.0, 2.0), abs=TOL)
    assert layer_topoloss(subject, "fc", factor="2,2").sizes["layer"] == 1


def test_layer_without_weight_is_refused():
    subject = from_module(Mixed(), ["fc", "act"], input_shape=(3, 8, 8), name="mixed")
    with pytest.raises(ToposcopeError, match="layer 'act' has no weight for TopoLoss"):
        layer_topoloss(subject, factor=2)
    with pytest.raises(ToposcopeError, match="unknown layer 'fcc'"):
        layer_topoloss(subject, ["fcc"])
    with pytest.raises(ToposcopeError, match="layer 'fc': factor .* larger than the 5x6 sheet"):
        layer_topoloss(subject, ["fc"], factor=9)


def test_penalty_is_tau_weighted_sum_and_matches_reference():
    model = Mixed()
    penalty = TopoLossPenalty(model, {"conv": 2.0, "fc": 0.5}, factor=2.0)
    expected = 2.0 * reference(model.conv, 2.0, 2.0) + 0.5 * reference(model.fc, 2.0, 2.0)
    assert float(penalty().detach()) == pytest.approx(expected, abs=1e-5)
    assert set(penalty.values()) == {"conv", "fc"}
    zero = TopoLossPenalty(model, ["conv", "fc"], tau=0.0, factor=2.0)
    assert float(zero()) == 0.0


def test_penalty_rejects_unknown_layers_and_bad_tau():
    with pytest.raises(ToposcopeError, match="no layer with a weight named 'fcc'"):
        TopoLossPenalty(Mixed(), ["fcc"])
    with pytest.raises(ToposcopeError, match="tau of layer 'fc' must be a number >= 0"):
        TopoLossPenalty(Mixed(), {"fc": -1.0})


def test_training_with_the_penalty_lowers_topoloss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 36), nn.ReLU(), nn.Linear(36, 3))
    inputs, targets = torch.randn(64, 8), torch.randint(0, 3, (64,))
    penalty = TopoLossPenalty(model, ["0"], tau=5.0, factor=3.0)
    before = penalty.values()["0"]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(inputs), targets) + penalty()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = penalty.values()["0"]
    assert before > 0.5 and after < 0.2 * before
    assert np.isfinite(after)


@pytest.mark.parametrize("text", ["x", "", "1,2,3", "a,b"])
def test_bad_factor_text_is_named_as_typed(text):
    from toposcope.sheet.geometry import shrink_factors

    with pytest.raises(ToposcopeError, match=f"factor must be a number or 'H,W', got {text!r}"):
        shrink_factors(text)
