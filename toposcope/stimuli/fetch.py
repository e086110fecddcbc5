"""``toposcope stimuli fetch NAME --to DIR``: download a set from its real source.

The archive named in the manifest is downloaded with :mod:`urllib`, the set's
folder (``source.subdir``) is unpacked into ``DIR`` and the files are checked
against the manifest's ``sha256-tree`` checksum before they are moved into
place. Without a network the error is one line saying so and where the files go.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from toposcope._validation import ToposcopeError
from toposcope.stimuli.manifests import Manifest, default_data_dir, get_manifest, tree_sha256

__all__ = ["fetch", "verify"]


def verify(manifest: Manifest, folder: str | Path, files: list[Path] | None = None) -> None:
    """Check ``folder`` (or just ``files`` in it) against the manifest's checksum.

    Raises a one-line error giving the expected and found file counts and digests.
    """
    expected = manifest.checksum.get("value")
    if not expected:
        return  # a manifest without a checksum cannot be verified; nothing to compare
    algorithm = manifest.checksum.get("algorithm", "sha256-tree")
    if algorithm != "sha256-tree":
        raise ToposcopeError(f"manifest {manifest.name!r} uses checksum {algorithm!r}; only 'sha256-tree' is known")
    digest, n_files, _ = tree_sha256(folder, files)
    if digest != expected:
        want = manifest.checksum.get("files", "?")
        raise ToposcopeError(
            f"{manifest.name} files in {str(folder)!r} do not match the manifest checksum "
            f"({n_files} files, sha256-tree {digest[:12]}...; expected {want} files, {expected[:12]}...); "
            "download again with --force"
        )


def fetch(
    name: str | Manifest, to: str | Path | None = None, *, force: bool = False, timeout: float = 60.0
) -> Path:
    """Download, verify and unpack a stimulus set.

    Parameters
    ----------
    name : str or Manifest
        A manifest name (``"floc"``, ``"konkle"``) or a Manifest.
    to : path, optional
        Destination folder; :func:`~toposcope.stimuli.manifests.default_data_dir` by
        default, which is where ``toposcope.stimuli.load(NAME)`` looks.
    force : bool
        Download even if ``to`` already holds the set.
    timeout : float
        Seconds to wait for the server.

    Returns
    -------
    Path
        The folder holding the set (``to``).
    """
    manifest = name if isinstance(name, Manifest) else get_manifest(name)
    target = Path(to).expanduser() if to is not None else default_data_dir(manifest.name)
    if target.is_dir() and any(target.iterdir()) and not force:
        verify(manifest, target)
        return target
    if manifest.archive_format != "zip":
        raise ToposcopeError(f"manifest {manifest.name!r} has archive format {manifest.archive_format!r}; "
                             "only 'zip' is supported")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{manifest.name}-", dir=target.parent) as tmp:
        archive = Path(tmp) / "archive.zip"
        _download(manifest, archive, target, timeout)
        staged = Path(tmp) / "set"
        files = _unpack(manifest, archive, staged)
        verify(manifest, staged, files)
        # Move into place only after the checksum passed: a failed fetch leaves `to` as it was.
        target.mkdir(parents=True, exist_ok=True)
        for path in files:
            destination = target / path.relative_to(staged)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), destination)
    return target


def _download(manifest: Manifest, archive: Path, target: Path, timeout: float) -> None:
    request = urllib.request.Request(manifest.url, headers={"User-Agent": "toposcope"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except urllib.error.HTTPError as error:
        raise ToposcopeError(
            f"download of {manifest.name!r} from {manifest.url} failed: HTTP {error.code} {error.reason}; "
            f"fetch it by hand and unpack its {manifest.subdir or 'top'} folder into {str(target)!r}"
        ) from None
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ToposcopeError(
            f"cannot download {manifest.name!r}: no connection to {_host(manifest.url)} ({reason}); "
            f"offline? get {manifest.url} elsewhere and unpack its {manifest.subdir or 'top'} folder "
            f"into {str(target)!r} (or any DIR and use {manifest.name}:DIR)"
        ) from None


def _host(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).netloc or url


def _unpack(manifest: Manifest, archive: Path, staged: Path) -> list[Path]:
    """Extract the files under ``<top>/<subdir>/`` into ``staged``; return their paths."""
    try:
        with zipfile.ZipFile(archive) as handle:
            members = [m for m in handle.infolist() if not m.is_dir()]
            prefix = _prefix(manifest, [PurePosixPath(m.filename) for m in members])
            files = []
            for member in members:
                path = PurePosixPath(member.filename)
                if path.parts[: len(prefix)] != prefix:
                    continue
                relative = PurePosixPath(*path.parts[len(prefix):])
                if relative.is_absolute() or ".." in relative.parts or not relative.parts:
                    continue  # never write outside the destination
                out = staged.joinpath(*relative.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                with handle.open(member) as source, open(out, "wb") as sink:
                    shutil.copyfileobj(source, sink, length=1 << 20)
                files.append(out)
    except zipfile.BadZipFile:
        raise ToposcopeError(f"the download of {manifest.name!r} from {manifest.url} is not a zip archive; "
                             "try again or fetch it by hand") from None
    if not files:
        raise ToposcopeError(f"the archive of {manifest.name!r} has no folder {manifest.subdir!r}; "
                             "the manifest's source.subdir does not fit the archive")
    return files


def _prefix(manifest: Manifest, paths: list[PurePosixPath]) -> tuple[str, ...]:
    """Path parts to strip: the archive's single top folder (if any), then ``subdir``."""
    tops = {p.parts[0] for p in paths if len(p.parts) > 1}
    single_top = len(tops) == 1 and all(len(p.parts) > 1 for p in paths)
    sub = tuple(PurePosixPath(manifest.subdir).parts) if manifest.subdir else ()
    return ((next(iter(tops)),) if single_top else ()) + sub
