"""Every hostile input: one line in the words of the interface, exit 2, and nothing left behind."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.cli import main
from toposcope.recipes import run_recipe
from toposcope.recipes.lock import LOCK_NAME

TOPOLOSS = '[[models]]\nspec = "demo/topo"\n[[analyses]]\nkind = "topoloss"\n'
DIGITS = '[[models]]\nspec = "demo/topo"\n[stimuli]\ndigits = {set = "demo:digits", per_class = 2}\n'


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("output, message", [
    ("out.csv", "-o {dir}/out.csv: results are written as netCDF; give a name ending in .nc (e.g. out.nc)"),
    ("", "-o {dir}/: that is a folder; give a file name such as"),
    ("afile/out.nc", "-o {dir}/afile/out.nc: {dir}/afile is a file, not a folder"),
    ("exists.nc", "-o {dir}/exists.nc already exists; pass --force to overwrite it"),
])
def test_bad_output_paths_fail_before_any_work(output, message, tmp_path, capsys, monkeypatch):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "exists.nc").write_bytes(b"old")
    monkeypatch.setattr(toposcope, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    assert main(["dimensionality", "demo/topo", "--stimuli", "x", "-o", f"{tmp_path}/{output}"]) == 2
    assert message.format(dir=tmp_path) in _one_line_error(capsys)
    assert (tmp_path / "exists.nc").read_bytes() == b"old"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_output_folder_is_named(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["topoloss", "demo/topo", "-o", str(locked / "t.nc")]) == 2
    assert f"cannot write in {locked} (permission denied)" in _one_line_error(capsys)


def test_force_overwrites_an_existing_result(tmp_path, capsys):
    out = tmp_path / "t.nc"
    out.write_bytes(b"old")
    assert main(["topoloss", "demo/topo", "-o", str(out), "--force"]) == 0
    assert out.read_bytes()[:4] == b"\x89HDF"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_device_that_is_not_here(image_folder, tmp_path, capsys):
    assert main(["extract", "demo/topo", "--stimuli", str(image_folder), "--device", "cuda",
                 "-o", str(tmp_path / "r.nc")]) == 2
    assert "--device cuda: torch sees no CUDA GPU here; use --device cpu" in _one_line_error(capsys)
    subject = toposcope.load_model("demo/topo")
    with pytest.raises(ToposcopeError, match=r"device 'cuda:1' is not available: .*use device='cpu'"):
        toposcope.extract(subject, image_folder, device="cuda:1")
    with pytest.raises(ToposcopeError, match=r"unknown device 'gpu'"):
        toposcope.extract(subject, image_folder, device="gpu")
    assert not (tmp_path / "r.nc").exists()


@pytest.mark.parametrize("argv, message", [
    (["selectivity", "demo/topo", "--stimuli", "{images}", "--threshold", "nan"],
     "--threshold must be a finite number, got nan"),
    (["selectivity", "demo/topo", "--stimuli", "{images}", "--layers", ","],
     "--layers ',' names no layer"),
    (["layers", "demo/topo", "-O", "frob=1"],
     "model 'demo/topo' takes no option 'frob'; it takes: --checkpoint, -O pool=..., --trust-checkpoint"),
])
def test_bad_flags_are_refused_before_results(argv, message, image_folder, tmp_path, capsys):
    out = tmp_path / "r.nc"
    filled = [a.format(images=image_folder) for a in argv] + (["-o", str(out)] if argv[0] != "layers" else [])
    assert main(filled) == 2
    assert message in _one_line_error(capsys)
    assert not out.exists() and not list(tmp_path.glob("r-*"))


def test_unknown_load_options_are_one_line_in_python():
    with pytest.raises(ToposcopeError, match=r"model 'demo/topo' takes no option 'frob'; it takes: checkpoint, pool"):
        toposcope.load_model("demo/topo", frob=1)
    with pytest.raises(ToposcopeError, match=r"takes no option 'pol' \(did you mean 'pool'\?\)"):
        toposcope.load_model("demo/topo", pol="max")


@pytest.mark.parametrize("body, message", [
    (TOPOLOSS.replace('spec = "demo/topo"\n', 'spec = "demo/topo"\ntaus = [1, 2]\n'),
     "model 'demo/topo' takes no option 'tau'"),
    (DIGITS + '[[analyses]]\nkind = "smoothness"\nstimuli = "digits"\nbins = -3\n',
     "[[analyses]] #1 (smoothness): bins must be a positive integer, got -3"),
    (DIGITS + '[[analyses]]\nkind = "dimensionality"\nstimuli = "digits"\nbatch_size = 0\n',
     "[[analyses]] #1 (dimensionality): batch_size must be a positive integer, got 0"),
    (DIGITS + '[[analyses]]\nkind = "smoothness"\nstimuli = "digits"\nlayers = ["conv9"]\n',
     "unknown layer 'conv9'"),
])
def test_a_refused_recipe_writes_nothing(body, message, tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text(body, encoding="utf-8")
    for argv in (["run", str(recipe), "-o", str(tmp_path / "new")],
                 ["run", str(recipe), "-o", str(tmp_path / "new"), "--dry-run"]):
        assert main(argv) == 2
        assert message in _one_line_error(capsys)
        assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    assert main(["run", str(recipe), "-o", str(tmp_path / "empty")]) == 2
    assert not any((tmp_path / "empty").iterdir()), "no digit images copied before the checks pass"


def test_run_flags_in_range(tmp_path, capsys, monkeypatch):
    recipe = tmp_path / "r.toml"
    recipe.write_text(TOPOLOSS, encoding="utf-8")
    assert main(["run", str(recipe), "--retries", "-1", "-o", str(tmp_path / "o")]) == 2
    assert "--retries must be 0 or more, got -1" in _one_line_error(capsys)
    pytest.importorskip("dask.distributed")
    import toposcope.recipes.runner as runner

    monkeypatch.setattr(runner, "SCHEDULER_TIMEOUT", 1)
    assert main(["run", str(recipe), "--scheduler", "tcp://127.0.0.1:9", "-o", str(tmp_path / "o")]) == 2
    assert "--scheduler tcp://127.0.0.1:9: no Dask scheduler answered within 1 s" in _one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_one_run_per_folder_and_stale_locks_are_taken_over(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(TOPOLOSS, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    lock = out / LOCK_NAME
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": "10:00"}))
    with pytest.raises(ToposcopeError, match=rf"is in use by another run \(process {os.getpid()} on .*since 10:00\)"):
        run_recipe(recipe, out, progress=False, figures=False)
    assert not (out / "results").exists()
    # A lock left by a process that is gone is stale: the run takes it over, and releases it at the end.
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 2 ** 22 + 7, "since": "09:00"}))
    assert run_recipe(recipe, out, progress=False, figures=False)["ran"] == 1
    assert not lock.exists()


def test_a_damaged_cache_entry_is_rebuilt(image_folder, tmp_path):
    subject = toposcope.load_model("demo/topo")
    cache = tmp_path / "cache"
    first = toposcope.extract(subject, image_folder, layers="conv2", cache=cache, progress=False)["conv2"]
    (entry,) = cache.glob("*.nc")
    entry.write_bytes(entry.read_bytes()[:200])  # truncated: a killed copy, a full disk
    with pytest.warns(UserWarning, match=r"cached responses of 'conv2' in .* are unreadable .*extracting them again"):
        again = toposcope.extract(subject, image_folder, layers="conv2", cache=cache, progress=False)["conv2"]
    torch.testing.assert_close(torch.from_numpy(again.values), torch.from_numpy(first.values))
    assert toposcope.extract(subject, image_folder, layers="conv2", cache=cache, progress=False)["conv2"].equals(first)
