"""The dedicated Brain-Score environments behind ``toposcope brainscore``.

brainscore-vision and brainscore-language pin old numpy / xarray / scikit-learn
/ transformers, and exclude each other (see :mod:`toposcope.brain.brainscore_vision`),
so each gets its own virtual environment with toposcope and the matching extra:
``$TOPOSCOPE_ENVS/brainscore-vision`` and ``.../brainscore-language``
(``TOPOSCOPE_ENVS`` defaults to ``~/.cache/toposcope/envs``). ``--setup KIND``
creates one; a ``toposcope brainscore`` run whose package is missing here is
handed over to the environment's own ``toposcope``, which prints the result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from toposcope._validation import ToposcopeError
from toposcope.brain._brainscore import benchmark_kind

KINDS = ("vision", "language")

#: Set in a handed-over run, so it never hands over again.
WORKER_FLAG = "TOPOSCOPE_BRAINSCORE_WORKER"


def kind_of(benchmark: str) -> str:
    """``"language"`` for brainscore-language benchmark identifiers, else ``"vision"``."""
    return benchmark_kind(benchmark)


def envs_root() -> Path:
    """``$TOPOSCOPE_ENVS`` or ``~/.cache/toposcope/envs``."""
    return Path(os.environ.get("TOPOSCOPE_ENVS") or Path.home() / ".cache" / "toposcope" / "envs").expanduser()


def env_dir(kind: str) -> Path:
    """Folder of the dedicated environment for ``kind``."""
    return envs_root() / f"brainscore-{kind}"


def env_python(kind: str) -> Path:
    """The dedicated environment's interpreter (it may not exist yet)."""
    return env_dir(kind) / "bin" / "python"


def installed_here(kind: str) -> bool:
    """Whether this interpreter can import the Brain-Score package for ``kind``."""
    import importlib.util

    module = "brainscore_vision" if kind == "vision" else "brainscore_language"
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None (tests) or a broken install
        return False


def hand_over(kind: str, argv: list[str]) -> int | None:
    """Run ``toposcope brainscore ARGV`` in the dedicated environment; None if there is none."""
    python = env_python(kind)
    if os.environ.get(WORKER_FLAG) or not python.is_file():
        return None
    env = {**os.environ, WORKER_FLAG: "1"}
    return subprocess.run([str(python), "-m", "toposcope", "brainscore", *argv], env=env, check=False).returncode


def _source_tree() -> Path | None:
    """The project folder when toposcope runs from a source checkout (an editable install)."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "toposcope"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def _torch_requirements() -> list[str]:
    """torch and torchvision at the versions installed here, so both environments run one torch."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in ("torch", "torchvision"):
        try:
            pins.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            pins.append(name)
    return pins


def setup(kind: str, directory: str | Path | None = None) -> Path:
    """Create (or update) the dedicated environment for ``kind``; returns its folder.

    ``python -m venv``, then torch and torchvision at this environment's
    versions, then toposcope with the ``brainscore-KIND`` extra (editable from
    the source checkout when there is one, else the same version from the
    package index).
    """
    from toposcope import __version__

    if kind not in KINDS:
        raise ToposcopeError(f"unknown Brain-Score kind {kind!r}; allowed: 'vision', 'language'")
    folder = Path(directory).expanduser() if directory else env_dir(kind)
    python = folder / "bin" / "python"
    extra = f"brainscore-{kind}"
    root = _source_tree()
    target = ["-e", f"{root}[{extra}]"] if root else [f"toposcope[{extra}]=={__version__}"]
    steps = [
        [sys.executable, "-m", "venv", str(folder)],
        [str(python), "-m", "pip", "install", "-q", *_torch_requirements()],
        [str(python), "-m", "pip", "install", "-q", *target],
    ]
    if python.is_file():
        steps = steps[1:]
    for step in steps:
        print(f"toposcope: {' '.join(step)}", file=sys.stderr)
        if subprocess.run(step, check=False).returncode != 0:
            raise ToposcopeError(f"setting up the {kind} environment in {folder} failed at `{' '.join(step)}`; "
                                 "see pip's message above")
    return folder
