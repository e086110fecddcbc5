"""Stimulus-set manifests: where a named set comes from and how it is laid out.

A manifest is a TOML file ``<name>.toml`` shipped in ``toposcope/data/stimuli/``
(package data, so installed copies have them too) or in a folder listed in
``$TOPOSCOPE_MANIFESTS``. It records the real
source (a URL pinned to a commit), a checksum of the set's files, the folder
layout, the labels and the citation. :func:`load_named` turns ``"floc"`` or
``"floc:DIR"`` into a :class:`~toposcope.stimuli.core.StimulusSet` through the
loader the manifest names.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, close_matches

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "LOADERS",
    "Manifest",
    "available",
    "default_data_dir",
    "get_manifest",
    "load_named",
    "manifest_dirs",
    "tree_sha256",
]

#: Named sets -> "module:function" building them. Manifest sets take the folder
#: (None = the fetched copy); generated sets take only options.
LOADERS: dict[str, str] = {
    "floc": "toposcope.stimuli.floc:load_floc",
    "konkle": "toposcope.stimuli.konkle:load_konkle",
    "gratings": "toposcope.stimuli.gratings:gratings",
}

#: Sets made in code: they have no manifest and no folder.
GENERATED = ("gratings",)


@dataclass(frozen=True)
class Manifest:
    """A stimulus set's manifest, as read from ``<name>.toml``.

    Parameters
    ----------
    name : str
        Short name (``"floc"``), also the loader key.
    url : str
        Archive to download (pinned to a commit).
    subdir : str
        Folder inside the archive (below its single top folder) holding the set.
    checksum : dict
        ``algorithm`` (``"sha256-tree"``), ``value``, ``files`` and ``bytes``.
    layout : dict
        Folder layout (``pattern``, ...).
    labels : dict
        Categories, domains, label table name, ...
    citation, homepage, licence, title : str
    path : Path
        The TOML file itself (label tables are found beside it).
    """

    name: str
    url: str
    subdir: str = ""
    archive_format: str = "zip"
    checksum: dict[str, Any] = field(default_factory=dict)
    layout: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    citation: str = ""
    homepage: str = ""
    licence: str = ""
    title: str = ""
    path: Path | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> Manifest:
        """Read and check a manifest TOML file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ToposcopeError(f"cannot read manifest {path.name!r}: {error}") from None
        source = data.get("source", {})
        for key, table in (("name", data), ("url", source)):
            if not table.get(key):
                raise ToposcopeError(f"manifest {path.name!r} has no {key!r}; every manifest names its source")
        return cls(
            name=data["name"],
            url=source["url"],
            subdir=source.get("subdir", "").strip("/"),
            archive_format=source.get("format", "zip"),
            checksum=dict(data.get("checksum", {})),
            layout=dict(data.get("layout", {})),
            labels=dict(data.get("labels", {})),
            citation=data.get("citation", ""),
            homepage=data.get("homepage", ""),
            licence=data.get("licence", ""),
            title=data.get("title", ""),
            path=path,
        )

    def beside(self, filename: str) -> Path:
        """A file shipped next to the manifest (a labels table)."""
        if self.path is None:
            raise ToposcopeError(f"manifest {self.name!r} was not read from a file; give the table's path")
        return self.path.parent / filename


def manifest_dirs() -> list[Path]:
    """Folders searched for ``<name>.toml``, first match wins.

    ``$TOPOSCOPE_MANIFESTS`` (``os.pathsep``-separated), then
    ``toposcope/data/stimuli`` (the package's own manifests).
    """
    dirs = [Path(p) for p in os.environ.get("TOPOSCOPE_MANIFESTS", "").split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parents[1] / "data" / "stimuli")
    return dirs


def available() -> list[str]:
    """Names of every set :func:`load_named` knows: manifests found plus generated sets."""
    names = {p.stem for d in manifest_dirs() if d.is_dir() for p in d.glob("*.toml")}
    return sorted(names | set(GENERATED))


def get_manifest(name: str) -> Manifest:
    """The manifest called ``name``; unknown names list the known ones."""
    for folder in manifest_dirs():
        path = folder / f"{name}.toml"
        if path.is_file():
            return Manifest.from_file(path)
    known = [n for n in available() if n not in GENERATED]
    near = close_matches(name, known)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise ToposcopeError(
        f"no manifest for stimulus set {name!r}{hint}; known: {', '.join(map(repr, known)) or 'none'}"
    )


def default_data_dir(name: str) -> Path:
    """Where ``toposcope stimuli fetch NAME`` puts a set by default.

    ``$TOPOSCOPE_CACHE/stimuli/NAME`` (default cache ``~/.cache/toposcope``).
    """
    root = os.environ.get("TOPOSCOPE_CACHE") or Path.home() / ".cache" / "toposcope"
    return Path(root) / "stimuli" / name


def tree_sha256(folder: str | Path, files: list[Path] | None = None) -> tuple[str, int, int]:
    """Checksum of a set's files, independent of how they were archived.

    Parameters
    ----------
    folder : path
        The set's root folder.
    files : list of Path, optional
        The files to cover; every file under ``folder`` (hidden ones excepted) by default.

    Returns
    -------
    (sha256, n_files, n_bytes)
        sha256 over the sorted lines ``"<relative posix path>\\0<sha256 of file>\\n"``.
    """
    folder = Path(folder)
    if files is None:
        files = [p for p in folder.rglob("*") if p.is_file() and not _hidden(p.relative_to(folder))]
    digest = hashlib.sha256()
    n_bytes = 0
    for path in sorted(files, key=lambda p: p.relative_to(folder).as_posix()):
        content = path.read_bytes()
        n_bytes += len(content)
        line = f"{path.relative_to(folder).as_posix()}\0{hashlib.sha256(content).hexdigest()}\n"
        digest.update(line.encode())
    return digest.hexdigest(), len(files), n_bytes


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _loader(name: str) -> Callable[..., Any]:
    module, function = LOADERS[name].split(":")
    return getattr(importlib.import_module(module), function)


def is_named(text: str) -> bool:
    """Whether ``text`` is ``NAME`` or ``NAME:DIR`` for a set in :data:`LOADERS`."""
    name, _, _ = text.partition(":")
    return name in LOADERS


def load_named(text: str, **options: Any):
    """Load ``NAME`` (the fetched copy / a generated set) or ``NAME:DIR``.

    Parameters
    ----------
    text : str
        ``"floc"``, ``"floc:/data/fLoc/stimuli"``, ``"konkle:DIR"``, ``"gratings"``.
    **options
        Passed to the set's loader (``include_scrambled=True`` for fLOC, ...).

    Returns
    -------
    StimulusSet
    """
    name, sep, folder = text.partition(":")
    if name not in LOADERS:
        raise ToposcopeError(f"unknown stimulus set {name!r}; known: {', '.join(map(repr, LOADERS))}")
    if name in GENERATED:
        if sep:
            raise ToposcopeError(f"stimulus set {name!r} is generated in code; give no folder (got {folder!r})")
        return _loader(name)(**options)
    return _loader(name)(folder or None, **options)


def resolve_folder(name: str, folder: str | Path | None) -> Path:
    """The folder of set ``name``: ``folder`` if given, else its fetched copy.

    Raises a one-line error saying how to fetch the set when neither exists.
    """
    if folder is not None:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise ToposcopeError(
                f"{name} folder {str(path)!r} does not exist; give the folder holding the "
                f"{name} images or run `toposcope stimuli fetch {name} --to DIR`"
            )
        return path
    path = default_data_dir(name)
    if not path.is_dir():
        raise ToposcopeError(
            f"stimulus set {name!r} is not on this machine; run `toposcope stimuli fetch {name}` "
            f"or give its folder as {name}:DIR"
        )
    return path
