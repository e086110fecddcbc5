"""fLOC and Konkle sets: manifests, real layouts, labels tables, fetch (offline and from a zip)."""

from __future__ import annotations

import io
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import shared_path

from toposcope._validation import ToposcopeError
from toposcope.stimuli import from_labels_table, get_manifest, load, load_floc, load_konkle
from toposcope.stimuli.fetch import fetch
from toposcope.stimuli.manifests import Manifest, tree_sha256


def small_image(path: Path, level: int = 128) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), level, dtype=np.uint8)).save(path)


def test_manifests_name_real_sources_checksums_and_citations():
    for name, host in (("floc", "github.com/VPNL/fLoc"), ("konkle", "github.com/brialorelle/kidstroop")):
        manifest = get_manifest(name)
        assert host in manifest.url and manifest.subdir
        assert manifest.checksum["algorithm"] == "sha256-tree" and len(manifest.checksum["value"]) == 64
        assert manifest.citation and manifest.layout["pattern"]
    assert get_manifest("floc").checksum["files"] == 11 * 144
    with pytest.raises(ToposcopeError, match=r"no manifest for stimulus set 'flco' \(did you mean 'floc'\?\)"):
        get_manifest("flco")


def test_floc_from_the_real_folder():
    folder = shared_path("stimuli", "floc")
    stimuli = load(f"floc:{folder}")
    assert len(stimuli) == 1440 and stimuli.name == "floc"
    assert stimuli.categories == ["adult", "child", "body", "limb", "house", "corridor", "word", "number",
                                  "car", "instrument"]
    domain = dict(zip(stimuli.labels["category"], stimuli.labels["domain"]))
    assert domain == {"adult": "faces", "child": "faces", "body": "bodies", "limb": "bodies", "house": "places",
                      "corridor": "places", "word": "characters", "number": "characters", "car": "objects",
                      "instrument": "objects"}
    assert list(stimuli.labels["stimulus_id"][:3]) == ["adult/adult-1", "adult/adult-2", "adult/adult-3"]
    with_scrambled = load_floc(folder, include_scrambled=True)
    assert len(with_scrambled) == 1584 and with_scrambled.categories[-1] == "scrambled"
    assert len(load_floc(folder, categories=["car", "house"], per_category=5)) == 10


def test_named_set_not_fetched_says_how_to_get_it():
    with pytest.raises(ToposcopeError, match=r"'floc' is not on this machine; run `toposcope stimuli fetch floc`"):
        load("floc")


def test_floc_category_with_zero_images_is_an_error(tmp_path):
    for category in ("adult", "child", "body", "limb", "house", "corridor", "word", "number", "car"):
        small_image(tmp_path / category / f"{category}-1.png")
    (tmp_path / "instrument").mkdir()
    with pytest.raises(ToposcopeError, match=r"category 'instrument' has zero images"):
        load(f"floc:{tmp_path}")
    with pytest.raises(ToposcopeError, match=r"unknown fLOC category 'faces'"):
        load_floc(tmp_path, categories=["faces"])


def test_plain_folder_with_an_empty_category_is_an_error(tmp_path):
    small_image(tmp_path / "dogs" / "a.png")
    (tmp_path / "cats").mkdir()
    with pytest.raises(ToposcopeError, match=r"category 'cats' has zero images"):
        load(tmp_path)


def test_konkle_size_from_folders_and_animacy_from_the_table():
    folder = shared_path("stimuli", "konkle_size")
    stimuli = load(f"konkle:{folder}")
    assert len(stimuli) == 80
    size, visual, animacy = (stimuli.labels[k] for k in ("size", "visual_size", "animacy"))
    assert (size == "big").sum() == 40 and (visual == "small").sum() == 40
    # The one animal of the set (a bison) at both visual sizes.
    assert sorted(stimuli.labels["object"][animacy == "animate"]) == ["bison", "bison"]
    assert set(stimuli.labels["object"][size == "small"]) >= {"apple", "baseball 2", "dice"}
    assert len(load_konkle(folder, labels=None).labels) == 5  # no animacy without a table


def test_labels_table_rows_naming_missing_files_are_an_error(tmp_path):
    small_image(tmp_path / "Big-visBig" / "01_desk.png")
    table = tmp_path / "labels.csv"
    table.write_text("file,animacy\nBig-visBig/01_desk.png,inanimate\nBig-visBig/02_bison.png,animate\n")
    with pytest.raises(ToposcopeError, match=r"names 1 file\(s\) missing .*first: 'Big-visBig/02_bison.png'"):
        load_konkle(tmp_path, labels=table)
    with pytest.raises(ToposcopeError, match=r"names 1 file\(s\) missing"):
        from_labels_table(table)
    table.write_text("path,animacy\nBig-visBig/01_desk.png,inanimate\n")
    with pytest.raises(ToposcopeError, match=r"no 'file' column"):
        from_labels_table(table)


def test_images_without_a_row_are_an_error(tmp_path):
    small_image(tmp_path / "Big-visBig" / "01_desk.png")
    small_image(tmp_path / "Small-visBig" / "01_apple.png")
    table = tmp_path / "labels.csv"
    table.write_text("file,animacy\nBig-visBig/01_desk.png,inanimate\n")
    with pytest.raises(ToposcopeError, match=r"1 image\(s\) have no row .*'Small-visBig/01_apple.png'"):
        load_konkle(tmp_path, labels=table)


def test_animacy_split_of_real_floc_images(tmp_path):
    """Faces and bodies vs cars, instruments and houses, labelled by a table; pixel 'units' give a t-map."""
    from toposcope.analysis.selectivity import tmaps
    from toposcope.stimuli import open_image

    folder = shared_path("stimuli", "floc")
    rows = ["file,animacy"]
    for category, animacy in (("adult", "animate"), ("body", "animate"), ("limb", "animate"),
                              ("car", "inanimate"), ("instrument", "inanimate"), ("house", "inanimate")):
        rows += [f"{category}/{category}-{i}.jpg,{animacy}" for i in range(1, 9)]
    table = tmp_path / "animacy.csv"
    table.write_text("\n".join(rows) + "\n")
    stimuli = from_labels_table(table, root=folder)
    assert len(stimuli) == 48 and (stimuli.labels["animacy"] == "animate").sum() == 24
    assert stimuli.categories == ["adult", "body", "limb", "car", "instrument", "house"]
    # 8x8 mean-pooled pixels of the real images as 64 "units".
    pixels = np.stack([np.asarray(open_image(p).convert("L").resize((8, 8))) for p in stimuli.items])
    responses = xr.DataArray(pixels.reshape(48, 64).astype(np.float32), dims=("stimulus", "unit"),
                             coords={k: ("stimulus", v) for k, v in stimuli.labels.items()})
    maps = tmaps(responses, ["animate_vs_inanimate"])
    assert maps.shape == (1, 64) and np.isfinite(maps.values).all() and np.abs(maps.values).max() > 2


# --------------------------------------------------------------------------- fetch
def zipped_set(tmp_path: Path) -> tuple[Path, Manifest]:
    """A zip laid out like a GitHub archive (top folder, then stimuli/) and its manifest."""
    source = tmp_path / "source"
    for category in ("a", "b"):
        for i in (1, 2):
            small_image(source / category / f"{category}-{i}.png", level=40 * i)
    digest, n_files, n_bytes = tree_sha256(source)
    archive = tmp_path / "repo.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("repo-abc/README.md", "not part of the set")
        for path in sorted(source.rglob("*.png")):
            handle.write(path, f"repo-abc/stimuli/{path.relative_to(source).as_posix()}")
    manifest = Manifest(name="tiny", url=archive.as_uri(), subdir="stimuli",
                        checksum={"algorithm": "sha256-tree", "value": digest, "files": n_files, "bytes": n_bytes})
    return archive, manifest


def test_fetch_downloads_unpacks_and_verifies(tmp_path):
    _, manifest = zipped_set(tmp_path)
    target = fetch(manifest, tmp_path / "out")
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*.png")) == [
        "a/a-1.png", "a/a-2.png", "b/b-1.png", "b/b-2.png"]
    assert not (target / "README.md").exists()
    assert fetch(manifest, target) == target  # already there: verified, not downloaded again


def test_fetch_with_a_wrong_checksum_leaves_nothing(tmp_path):
    _, manifest = zipped_set(tmp_path)
    bad = Manifest(name="tiny", url=manifest.url, subdir="stimuli",
                   checksum={**manifest.checksum, "value": "0" * 64})
    with pytest.raises(ToposcopeError, match=r"do not match the manifest checksum \(4 files"):
        fetch(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fetch_offline_is_one_line_naming_where_files_go(tmp_path, monkeypatch):
    def offline(*_args, **_kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(ToposcopeError) as error:
        fetch("floc", tmp_path / "floc")
    message = str(error.value)
    assert "\n" not in message and "offline?" in message and "github.com" in message
    assert str(tmp_path / "floc") in message and "floc:DIR" in message


def test_fetch_rejects_a_download_that_is_not_a_zip(tmp_path, monkeypatch):
    monkeypatch.setattr("urllib.request.urlopen", lambda *_a, **_k: io.BytesIO(b"<html>rate limited</html>"))
    with pytest.raises(ToposcopeError, match="is not a zip archive"):
        fetch("konkle", tmp_path / "k")
