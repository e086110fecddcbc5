"""Reading NSD as distributed: layout, design, z-scoring per session, repeats, ROIs, images, errors."""

from __future__ import annotations

import shutil

import _nsd_tree as T
import h5py
import numpy as np
import pytest

from toposcope._validation import ToposcopeError
from toposcope.brain import nsd
from toposcope.brain.nsd_files import NSDRoot, read_betas, read_design, read_images, read_stim_info

SPACES = [("fsaverage", "streams"), ("func1pt8mm", "floc-faces")]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return T.build(tmp_path_factory.mktemp("nsd") / "nsd")


@pytest.fixture
def copy(tree, tmp_path):
    """A private copy of the tree to break."""
    target = tmp_path / "nsd"
    shutil.copytree(tree.root, target)
    return target


def expected_trials(tree, space, betas):
    """(trials, voxels) planted betas z-scored per session, in the order of ``betas``' voxels."""
    raw = np.stack([tree.raw[(space, h, int(i))] for h, i in zip(betas["hemisphere"].values, betas["index"].values)], 1)
    blocks = raw.reshape(T.SESSIONS, T.TRIALS, -1)
    return ((blocks - blocks.mean(1, keepdims=True)) / blocks.std(1, keepdims=True)).reshape(len(raw), -1)


def test_design_is_zero_based_and_complete(tree):
    design = read_design(NSDRoot(tree.root))
    assert design.trials_per_session == T.TRIALS
    np.testing.assert_array_equal(design.sharedix, tree.shared_ids)
    ids, session = design.trial_images(1, [1, 2, 3])
    np.testing.assert_array_equal(ids, tree.trial_ids)
    np.testing.assert_array_equal(session, np.repeat([1, 2, 3], T.TRIALS))


def test_stim_info_indexes_by_73k_id(tree):
    info = read_stim_info(NSDRoot(tree.root))
    assert info["coco_id"][tree.nsd_ids[5]] == 100000 + tree.nsd_ids[5]
    assert info["shared1000"][tree.shared_ids].all() and not info["shared1000"][tree.nsd_ids[-1]]


def test_images_come_by_73k_id_in_the_order_asked(tree):
    ids = tree.nsd_ids[[7, 2, 7]]
    images = read_images(NSDRoot(tree.root), ids)
    with h5py.File(tree.root / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5") as handle:
        expected = np.stack([handle["imgBrick"][i] for i in ids])
    assert images.dtype == np.uint8 and images.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(images, expected)


@pytest.mark.parametrize("space, name", [("fsaverage", "rh.betas_session03.mgh"),
                                         ("func1pt8mm", "betas_session03.nii.gz")])
def test_raw_betas_are_percent_signal_change(tree, space, name):
    """float32 .mgh is read as is; int16 .nii.gz is divided by 300."""
    path = tree.root / "nsddata_betas/ppdata/subj01" / space / T.BETAS / name
    hemi = "rh" if space == "fsaverage" else "lh"
    keys = sorted(k for k in tree.raw if k[0] == space and k[1] == hemi)
    index = np.asarray([k[2] for k in keys])
    shape = (T.VERTICES, 1, 1) if space == "fsaverage" else T.VOLUME
    got = read_betas(path, index, shape)
    expected = np.stack([tree.raw[k][2 * T.TRIALS :] for k in keys], 1)
    assert got.dtype == np.float32 and got.shape == (T.TRIALS, len(keys))
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("space, roi", SPACES)
def test_single_trials_are_zscored_per_session(tree, space, roi):
    betas = nsd.load_betas(tree.root, 1, roi, space=space, average=False)
    assert betas.dims == ("stimulus", "voxel") and betas.dtype == np.float32
    np.testing.assert_array_equal(betas["nsd_id"].values, tree.trial_ids)
    np.testing.assert_allclose(betas.values, expected_trials(tree, space, betas), atol=2e-5)
    per_session = betas.values.reshape(T.SESSIONS, T.TRIALS, -1)
    np.testing.assert_allclose(per_session.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(per_session.std(1), 1, atol=1e-5)


@pytest.mark.parametrize("space, roi", SPACES)
def test_repeats_are_averaged(tree, space, roi):
    trials = nsd.load_betas(tree.root, 1, roi, space=space, average=False)
    betas = nsd.load_betas(tree.root, 1, roi, space=space)
    assert betas.sizes["stimulus"] == T.IMAGES
    np.testing.assert_array_equal(betas["nsd_id"].values, np.sort(tree.nsd_ids))
    np.testing.assert_array_equal(betas["n_trials"].values, 2)
    z = expected_trials(tree, space, trials)
    for row, nsd_id in enumerate(betas["nsd_id"].values):
        np.testing.assert_allclose(betas.values[row], z[tree.trial_ids == nsd_id].mean(0), atol=2e-5)
    np.testing.assert_array_equal(betas["shared"].values, np.isin(betas["nsd_id"].values, tree.shared_ids))
    assert betas["stimulus_id"].values[0] == f"nsd{betas['nsd_id'].values[0]:05d}"


@pytest.mark.parametrize("space, roi", SPACES)
def test_roi_voxels_and_ncsnr_are_the_planted_ones(tree, space, roi):
    betas = nsd.load_betas(tree.root, 1, roi, space=space)
    keys = {(space, h, int(i)) for h, i in zip(betas["hemisphere"].values, betas["index"].values)}
    assert keys == {k for k in tree.unit_of if k[0] == space}
    expected = [tree.ncsnr[(space, h, int(i))] for h, i in zip(betas["hemisphere"].values, betas["index"].values)]
    np.testing.assert_allclose(betas["ncsnr"].values, expected)
    assert list(dict.fromkeys(betas["hemisphere"].values)) == ["lh", "rh"]


def test_roi_names_select_labels_and_volumes_have_ijk(tree):
    betas = nsd.load_betas(tree.root, 1, "floc-faces:FFA-1,OFA", space="func1pt8mm")
    assert set(betas["roi"].values) <= {"FFA-1", "OFA"} and betas.sizes["voxel"] > 0
    ijk = np.stack([betas[c].values for c in "ijk"])
    np.testing.assert_array_equal(np.ravel_multi_index(tuple(ijk), T.VOLUME), betas["index"].values)


def test_a_session_subset_reads_only_those_sessions(tree):
    betas = nsd.load_betas(tree.root, 1, "streams", sessions=[2], average=False)
    np.testing.assert_array_equal(betas["session"].values, 2)
    np.testing.assert_array_equal(betas["nsd_id"].values, tree.trial_ids[T.TRIALS : 2 * T.TRIALS])
    assert betas.attrs["sessions"] == "2"


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("relative", [
    "nsddata/experiments/nsd/nsd_expdesign.mat",
    "nsddata/experiments/nsd/nsd_stim_info_merged.csv",
    "nsddata_betas/ppdata/subj01/fsaverage/betas_fithrf_GLMdenoise_RR/rh.betas_session02.mgh",
    "nsddata_betas/ppdata/subj01/fsaverage/betas_fithrf_GLMdenoise_RR/lh.ncsnr.mgh",
    "nsddata/freesurfer/fsaverage/label/streams.mgz.ctab",
])
def test_a_missing_file_is_named_with_its_expected_path(copy, relative):
    (copy / relative).unlink()
    with pytest.raises(ToposcopeError, match=rf"has no .*'{relative}'; expected it at '.*{relative}'"):
        nsd.load_betas(copy, 1, "streams")


def test_missing_images_file_is_named(copy):
    (copy / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5").unlink()
    with pytest.raises(ToposcopeError, match=r"has no stimulus images 'nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5'"):
        nsd.stimulus_set(copy, [1, 2], copy / "png")


def test_unknown_subject_lists_those_that_exist(tree):
    with pytest.raises(ToposcopeError, match=r"subject 3 has no fsaverage betas .*available subjects: 1, 2$"):
        nsd.load_betas(tree.root, 3, "streams")
    with pytest.raises(ToposcopeError, match=r"subject 2 has no func1pt8mm betas .*available subjects: 1$"):
        nsd.load_betas(tree.root, 2, "floc-faces", space="func1pt8mm")


def test_unknown_roi_lists_those_that_exist(tree):
    with pytest.raises(ToposcopeError, match=r"collection 'floc-places' not found .*available: streams$"):
        nsd.load_betas(tree.root, 1, "floc-places")
    with pytest.raises(ToposcopeError, match=r"'FFA-9' is not in collection 'floc-faces'; it has: OFA, FFA-1, FFA-2"):
        nsd.load_betas(tree.root, 1, "floc-faces:FFA-9", space="func1pt8mm")


def test_betas_whose_trial_count_disagrees_with_the_design(copy):
    import nibabel as nib

    path = copy / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session02.nii.gz"
    image = nib.load(path)
    nib.Nifti1Image(np.asarray(image.dataobj)[..., :-1], image.affine).to_filename(path)
    with pytest.raises(ToposcopeError, match=rf"betas_session02.nii.gz' hold {T.TRIALS - 1} trials but the design "
                                             rf"has {T.TRIALS} per session"):
        nsd.load_betas(copy, 1, "floc-faces", space="func1pt8mm")


def test_bad_space_and_sessions(tree):
    with pytest.raises(ToposcopeError, match=r"unknown space 'func1mm'; allowed: 'fsaverage', 'func1pt8mm'"):
        nsd.load_betas(tree.root, 1, "streams", space="func1mm")
    with pytest.raises(ToposcopeError, match=r"sessions must be .* 1-40; got \[41\]; sessions with betas .*: 1-3"):
        nsd.load_betas(tree.root, 1, "streams", sessions=[41])
    with pytest.raises(ToposcopeError, match=r"has no betas of session 4 .*lh.betas_session04.mgh"):
        nsd.load_betas(tree.root, 1, "streams", sessions=[4])


def test_root_that_is_not_a_folder(tmp_path):
    with pytest.raises(ToposcopeError, match=r"NSD root .* does not exist; give the folder that holds nsddata/"):
        nsd.load_betas(tmp_path / "nowhere", 1, "streams")


def test_constant_voxels_are_dropped_with_a_warning(copy):
    import nibabel as nib

    path = copy / "nsddata_betas/ppdata/subj01/fsaverage/betas_fithrf_GLMdenoise_RR/lh.betas_session01.mgh"
    data = np.asarray(nib.load(path).dataobj).copy()
    labels = np.asarray(nib.load(copy / "nsddata/freesurfer/fsaverage/label/lh.streams.mgz").dataobj).ravel()
    dead = int(np.flatnonzero(labels > 0)[0])
    data[dead] = 0.0
    nib.MGHImage(data, np.eye(4)).to_filename(path)
    with pytest.warns(UserWarning, match=r"dropped 1 of 14 voxels with constant betas"):
        betas = nsd.load_betas(copy, 1, "streams")
    assert ("lh", dead) not in set(zip(betas["hemisphere"].values, betas["index"].values.tolist()))


def test_maps_without_a_label_table_are_not_listed_as_rois(copy):
    import nibabel as nib

    for hemi in ("lh", "rh"):
        nib.MGHImage(np.zeros((T.VERTICES, 1, 1), np.float32), np.eye(4)).to_filename(
            copy / f"nsddata/freesurfer/fsaverage/label/{hemi}.mean.mgz")
    assert NSDRoot(copy).roi_collections(1, "fsaverage") == ["streams"]
    with pytest.raises(ToposcopeError, match=r"has no label table of 'mean' 'nsddata/freesurfer/fsaverage/label/mean"):
        nsd.load_betas(copy, 1, "mean")
