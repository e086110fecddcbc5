"""Checkpoint files from the Hugging Face Hub: download (or find in the cache) and verify.

Downloads go through ``huggingface_hub.hf_hub_download``, so files land in (and
are found again in) the standard Hugging Face cache (``HF_HOME``). The local
cache is tried first, so a cached file loads without any network request. Any
failure (offline, missing file, no such repo) becomes one
:class:`~toposcope._validation.ToposcopeError` naming the repo and the file and
telling the user how to supply the file by hand.

:data:`KNOWN_SHA256` pins the content of released files where the checksum is
known; a downloaded file that does not match is rejected rather than analysed.
"""

from __future__ import annotations

import functools
from pathlib import Path

from toposcope._validation import ToposcopeError
from toposcope.models.subject import file_sha256

__all__ = ["KNOWN_SHA256", "MANUAL_HINT", "download", "hub_reachable", "known_sha256", "verify_sha256"]

#: sha256 of released checkpoint files, keyed by ``(repo, filename)``. ``None``
#: means the file is known to exist but its checksum has not been recorded yet;
#: such files are loaded unverified (their hash still becomes the Subject's identity).
KNOWN_SHA256: dict[tuple[str, str], str | None] = {
    **{
        ("murtylab/topo-resnet18-imagenet", f"all_topo_tau_{tau}.pt"): None
        for tau in ("0.5", "1.0", "5.0", "10.0", "20.0", "50.0")
    },
    ("murtylab/topo-resnet50-imagenet", "all_topo_tau_30.0.pt"): None,
    ("murtylab/topo-vit-b-32-imagenet", "tau_0.0.pt"): None,
    ("murtylab/topo-vit-b-32-imagenet", "tau_10.0.pt"): None,
    **{
        ("murtylab/topo-nanogpt-fineweb10B", f"tau_{tau}.pt"): None
        for tau in ("0.0", "0.5", "1.0", "3.0", "50.0")
    },
}

MANUAL_HINT = "download it and pass checkpoint=PATH (or place it in the Hugging Face cache)"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub's host answers a TCP connection within ``timeout`` seconds.

    huggingface_hub retries a failed request with back-off for about 25 s (and
    transformers' tokenizer lookups for minutes) before giving up; asking once
    up front lets an offline machine fail in a moment. ``HF_HUB_OFFLINE=1``
    counts as unreachable; behind a proxy (``HTTPS_PROXY`` set) the host cannot
    be probed directly, so it is assumed reachable and the download decides.
    """
    import os
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    endpoint = urlparse(constants.ENDPOINT)
    return _answers(endpoint.hostname, endpoint.port or 443, timeout)


@functools.lru_cache(maxsize=8)
def _answers(host: str, port: int, timeout: float) -> bool:
    """One TCP connection attempt per host and process."""
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def known_sha256(repo: str, filename: str) -> str | None:
    """The recorded sha256 of ``filename`` in ``repo``, or None if not recorded."""
    return KNOWN_SHA256.get((repo, filename))


def verify_sha256(path: str | Path, expected: str, name: str = "") -> str:
    """Return the file's sha256 if it equals ``expected``, else raise naming both hashes."""
    actual = file_sha256(path)
    if actual != expected.lower():
        raise ToposcopeError(
            f"{name or Path(path).name} has sha256 {actual}, expected {expected}; the file is "
            "corrupt or changed upstream: delete it from the Hugging Face cache and retry, "
            "or pass checkpoint=PATH to a file you trust"
        )
    return actual


def download(repo: str, filename: str, *, revision: str | None = None,
             sha256: str | None = None, hint: str = MANUAL_HINT) -> Path:
    """Path to ``filename`` of Hugging Face model repo ``repo``, downloaded if not cached.

    Parameters
    ----------
    repo : str
        ``owner/name`` of a Hugging Face model repository.
    filename : str
        File inside the repository.
    revision : str, optional
        Branch, tag or commit; the default branch when omitted.
    sha256 : str, optional
        Expected checksum; defaults to :data:`KNOWN_SHA256`. Checked when known.
    hint : str
        How to supply the file by hand, for the error raised when it cannot be fetched.

    Returns
    -------
    pathlib.Path
        The file in the Hugging Face cache.
    """
    import huggingface_hub

    expected = sha256 or known_sha256(repo, filename)
    try:
        # The cache first: a cached file then loads offline without retrying the network.
        path = huggingface_hub.hf_hub_download(repo_id=repo, filename=filename, revision=revision,
                                               local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached (or unreadable cache): go to the network
        if not hub_reachable():
            raise ToposcopeError(
                f"cannot download {filename!r} from Hugging Face repo {repo!r} "
                f"(offline, and not in the Hugging Face cache); {hint}"
            ) from None
        try:
            path = huggingface_hub.hf_hub_download(repo_id=repo, filename=filename, revision=revision)
        except Exception as error:  # noqa: BLE001 - offline, 404, auth: all become one line
            raise ToposcopeError(
                f"cannot download {filename!r} from Hugging Face repo {repo!r} "
                f"({_reason(error)}); {hint}"
            ) from None
    if expected is not None:
        verify_sha256(path, expected, name=f"{repo}/{filename}")
    return Path(path)


def _reason(error: Exception) -> str:
    """A short, single-line cause: offline, not found, or the error's class and first line."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(error, LocalEntryNotFoundError):
        return "offline, and not in the Hugging Face cache"
    if isinstance(error, (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError)):
        return "no such file, revision or repository on the Hub"
    first = (str(error).strip().splitlines() or [""])[0][:120]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
