"""The CLI's shared helpers: load errors in the words of the command line."""

from __future__ import annotations

import pytest

from toposcope._validation import ToposcopeError
from toposcope.cli import main
from toposcope.cli._common import cli_words


@pytest.mark.parametrize(("python", "cli"), [
    ("download it and pass checkpoint=PATH (or place it in the cache)",
     "download it and pass --checkpoint PATH (or place it in the cache)"),
    ("TopoNets checkpoints (tau=..., checkpoint=PATH)", "TopoNets checkpoints (--tau ..., --checkpoint PATH)"),
    ("pass checkpoint=PATH or weights=DEFAULT", "pass --checkpoint PATH or -O weights=DEFAULT"),
    ("opt in with trust_checkpoint=True", "opt in with --trust-checkpoint"),
    ("file 'a_b=3.nc' and --x=1 and a/b=c stay", "file 'a_b=3.nc' and --x=1 and a/b=c stay"),
])
def test_load_errors_name_flags_on_the_command_line(python, cli):
    assert cli_words(python) == cli


def test_a_load_error_without_cli_words_is_translated(monkeypatch, capsys):
    import toposcope

    def refuse(spec, **options):
        raise ToposcopeError(f"cannot download {spec!r} (offline); pass checkpoint=PATH or weights=DEFAULT")

    monkeypatch.setattr(toposcope, "load_model", refuse)
    assert main(["layers", "torchvision:resnet18"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [("toposcope layers: error: cannot download 'torchvision:resnet18' (offline); "
                    "pass --checkpoint PATH or -O weights=DEFAULT")]


def test_a_load_warning_names_flags_on_the_command_line():
    with pytest.warns(UserWarning) as caught:
        assert main(["layers", "torchvision:resnet18"]) == 0
    messages = [str(w.message) for w in caught]
    assert any("random weights" in m and m.endswith("pass --checkpoint PATH or -O weights=DEFAULT") for m in messages)
    assert not any("checkpoint=PATH" in m for m in messages)
