"""Hub downloads: cache first, checksums verified, every failure one line naming repo and file."""

from __future__ import annotations

import hashlib

import huggingface_hub
import pytest
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

from toposcope._validation import ToposcopeError
from toposcope.models import hub

REPO, FILE = "murtylab/topo-resnet18-imagenet", "all_topo_tau_10.0.pt"


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / FILE
    path.write_bytes(b"not really weights")
    return path, hashlib.sha256(b"not really weights").hexdigest()


def serving(path, calls):
    def fake(repo_id, filename, **kwargs):
        calls.append({"repo_id": repo_id, "filename": filename, **kwargs})
        return str(path)
    return fake


def failing(error):
    def fake(repo_id, filename, **kwargs):
        raise error
    return fake


def test_cached_files_load_without_a_network_request(monkeypatch, weights):
    path, _ = weights
    calls = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", serving(path, calls))
    assert hub.download(REPO, FILE) == path
    assert calls == [{"repo_id": REPO, "filename": FILE, "revision": None, "local_files_only": True}]


@pytest.fixture
def reachable_hub(monkeypatch):
    """Pretend the Hub answers, so that the mocked download is what decides."""
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)


def test_uncached_files_are_downloaded(monkeypatch, weights, reachable_hub):
    path, _ = weights
    calls = []

    def fake(repo_id, filename, **kwargs):
        calls.append(kwargs.get("local_files_only", False))
        if kwargs.get("local_files_only"):
            raise LocalEntryNotFoundError("not in the cache")
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    assert hub.download(REPO, FILE, revision="main") == path
    assert calls == [True, False]


def test_known_checksums_are_verified(monkeypatch, weights):
    path, digest = weights
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", serving(path, []))
    monkeypatch.setitem(hub.KNOWN_SHA256, (REPO, FILE), digest)
    assert hub.known_sha256(REPO, FILE) == digest
    assert hub.download(REPO, FILE) == path
    wrong = "0" * 64
    monkeypatch.setitem(hub.KNOWN_SHA256, (REPO, FILE), wrong)
    with pytest.raises(ToposcopeError, match=rf"{REPO}/{FILE} has sha256 {digest}, expected {wrong}"):
        hub.download(REPO, FILE)
    with pytest.raises(ToposcopeError, match=rf"has sha256 {digest}, expected {'f' * 64}"):
        hub.download(REPO, FILE, sha256="f" * 64)  # an explicit checksum wins over the table


def test_every_released_file_is_in_the_checksum_table():
    from toposcope.models.toponets import RELEASES

    for release in RELEASES.values():
        for tau in release.taus:
            assert (release.repo, release.filename(tau)) in hub.KNOWN_SHA256
    for digest in hub.KNOWN_SHA256.values():  # recorded ones must be full sha256 hex digests
        assert digest is None or (len(digest) == 64 and set(digest) <= set("0123456789abcdef"))


@pytest.mark.parametrize("error, reason", [
    (LocalEntryNotFoundError("no connection and not cached"), "offline, and not in the Hugging Face cache"),
    (EntryNotFoundError("404 Client Error"), "no such file, revision or repository on the Hub"),
    (ConnectionError("Name or service not known\nmore detail"), "ConnectionError: Name or service not known"),
])
def test_failures_are_one_line_with_the_manual_route(monkeypatch, error, reason, reachable_hub):
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", failing(error))
    with pytest.raises(ToposcopeError) as raised:
        hub.download(REPO, FILE)
    message = str(raised.value)
    assert message == (f"cannot download {FILE!r} from Hugging Face repo {REPO!r} ({reason}); "
                       "download it and pass checkpoint=PATH (or place it in the Hugging Face cache)")


def test_real_offline_mode_gives_the_same_error(monkeypatch, tmp_path):
    """No mock: huggingface_hub itself in offline mode, with an empty cache."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with pytest.raises(ToposcopeError, match=rf"cannot download '{FILE}' from Hugging Face repo '{REPO}' "
                                             r"\(offline, and not in the Hugging Face cache\)"):
        hub.download(REPO, FILE)


def test_unreachable_hub_fails_at_once_without_retrying(monkeypatch, tmp_path):
    """No network: one connection attempt, then the one-line error (no 25 s of retries)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.invalid")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    network = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo_id, filename, **kw: network.append(kw) or failing(
                            LocalEntryNotFoundError("not cached"))(repo_id, filename))
    with pytest.raises(ToposcopeError, match="offline, and not in the Hugging Face cache"):
        hub.download(REPO, FILE)
    assert network == [{"revision": None, "local_files_only": True}]  # the cache, never the network
    assert hub.hub_reachable() is False
