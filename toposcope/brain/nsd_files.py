"""The Natural Scenes Dataset (NSD) as it is distributed: paths, design, ROIs, betas, images.

Everything here reads files under one root (the folder holding ``nsddata/``,
``nsddata_betas/`` and ``nsddata_stimuli/``) in the release's own layout, as
described in the NSD Data Manual:

- design: ``nsddata/experiments/nsd/nsd_expdesign.mat`` (``masterordering``,
  ``subjectim``, ``sharedix``; all 1-based in the file, 0-based here);
- stimulus info: ``nsddata/experiments/nsd/nsd_stim_info_merged.csv``;
- images: ``nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5``, dataset ``imgBrick``
  of shape (73000, 425, 425, 3) uint8, row = 73k id;
- single-trial betas: ``nsddata_betas/ppdata/subjNN/<space>/betas_fithrf_GLMdenoise_RR/``
  with ``lh|rh.betas_sessionNN.mgh`` (fsaverage; float32 percent signal change,
  shape (163842, 1, 1, 750)) or ``betas_sessionNN.nii.gz`` (func1pt8mm; int16 holding
  percent signal change x 300, shape (X, Y, Z, 750));
- ncsnr: ``lh|rh.ncsnr.mgh`` or ``ncsnr.nii.gz`` beside the betas;
- ROIs: ``nsddata/freesurfer/fsaverage/label/lh|rh.<collection>.mgz`` (fsaverage)
  or ``nsddata/ppdata/subjNN/func1pt8mm/roi/lh|rh.<collection>.nii.gz``, their
  label names in ``<collection>.mgz.ctab``.

Voxels (or vertices) are addressed by their flat C-order ``index`` into the
spatial shape of their file, which is the same for the ROI, ncsnr and betas
files of one space.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toposcope._validation import ToposcopeError, check_dir, check_option

__all__ = [
    "BETAS_VERSION",
    "HEMISPHERES",
    "INT_SCALE",
    "PLANNED_SESSIONS",
    "SPACES",
    "Design",
    "NSDRoot",
    "default_image_dir",
    "read_betas",
    "read_ctab",
    "read_design",
    "read_images",
    "read_labels",
    "read_stim_info",
    "write_images",
]

#: The GLM version read: GLMsingle with fitted HRFs, GLMdenoise and ridge regression ("b3").
BETAS_VERSION = "betas_fithrf_GLMdenoise_RR"
SPACES = ("fsaverage", "func1pt8mm")
HEMISPHERES = ("lh", "rh")
#: The design plans 40 sessions for every subject; masterordering holds all of their
#: trials (30,000 = 40 x 750), whether or not a subject completed them.
PLANNED_SESSIONS = 40
#: Integer betas store percent signal change multiplied by this (NSD Data Manual).
INT_SCALE = 300.0
#: Bytes of betas read per block, so one session never needs to fit in memory.
BLOCK_BYTES = 256 << 20


def _subj(subject: int) -> str:
    return f"subj{subject:02d}"


@dataclass(frozen=True)
class NSDRoot:
    """Paths inside an NSD root folder, and what it holds.

    Parameters
    ----------
    path : path
        The folder holding ``nsddata/``, ``nsddata_betas/`` and ``nsddata_stimuli/``.
    """

    path: Path

    def __post_init__(self) -> None:
        path = check_dir("NSD root", self.path,
                         "give the folder that holds nsddata/, nsddata_betas/ and nsddata_stimuli/")
        object.__setattr__(self, "path", path)

    # -- files ------------------------------------------------------------
    def require(self, relative: str | Path, what: str) -> Path:
        """``path / relative`` if it is a file, else a one-line error naming it."""
        full = self.path / relative
        if not full.is_file():
            raise ToposcopeError(
                f"NSD root {str(self.path)!r} has no {what} {str(relative)!r}; expected it at {str(full)!r}"
            )
        return full

    def design(self) -> Path:
        return self.require("nsddata/experiments/nsd/nsd_expdesign.mat", "experimental design")

    def stim_info(self) -> Path:
        return self.require("nsddata/experiments/nsd/nsd_stim_info_merged.csv", "stimulus info table")

    def stimuli(self) -> Path:
        return self.require("nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5", "stimulus images")

    def betas_dir(self, subject: int, space: str) -> Path:
        return Path("nsddata_betas/ppdata") / _subj(subject) / space / BETAS_VERSION

    def session_files(self, subject: int, space: str, session: int) -> list[Path]:
        """The betas file(s) of one session: lh and rh for fsaverage, one volume otherwise."""
        folder = self.betas_dir(subject, space)
        if space == "fsaverage":
            # The release ships .mgh; accept a compressed .mgz copy too.
            stem = f"betas_session{session:02d}"
            return [self._first(folder, [f"{h}.{stem}.mgh", f"{h}.{stem}.mgz"], f"betas of session {session}")
                    for h in HEMISPHERES]
        # An uncompressed .nii (if the user gunzipped it) is read by memory map.
        stem = f"betas_session{session:02d}"
        return [self._first(folder, [f"{stem}.nii", f"{stem}.nii.gz"], f"betas of session {session}")]

    def ncsnr_files(self, subject: int, space: str) -> dict[str, Path]:
        """ncsnr file per hemisphere (both point at one volume in func1pt8mm)."""
        folder = self.betas_dir(subject, space)
        if space == "fsaverage":
            return {h: self.require(folder / f"{h}.ncsnr.mgh", "ncsnr file") for h in HEMISPHERES}
        path = self.require(folder / "ncsnr.nii.gz", "ncsnr file")
        return {h: path for h in HEMISPHERES}

    def roi_dir(self, subject: int, space: str) -> Path:
        if space == "fsaverage":
            return Path("nsddata/freesurfer/fsaverage/label")
        return Path("nsddata/ppdata") / _subj(subject) / space / "roi"

    def roi_files(self, subject: int, space: str, collection: str) -> dict[str, Path]:
        folder = self.roi_dir(subject, space)
        suffix = "mgz" if space == "fsaverage" else "nii.gz"
        return {h: self.require(folder / f"{h}.{collection}.{suffix}", f"ROI file of {collection!r}")
                for h in HEMISPHERES}

    def ctab_file(self, subject: int, space: str, collection: str) -> Path:
        """Label names of an ROI collection: the subject's, fsaverage's or the templates' copy."""
        candidates = self._ctab_candidates(subject, space, collection)
        for relative in candidates:
            if (self.path / relative).is_file():
                return self.path / relative
        return self.require(candidates[0], f"label table of {collection!r}")

    def _ctab_candidates(self, subject: int, space: str, collection: str) -> list[Path]:
        candidates = [Path("nsddata/freesurfer") / _subj(subject) / "label" / f"{collection}.mgz.ctab",
                      Path("nsddata/freesurfer/fsaverage/label") / f"{collection}.mgz.ctab",
                      Path("nsddata/templates") / f"{collection}.ctab"]
        if space == "fsaverage":
            candidates.insert(0, candidates.pop(1))
        return candidates

    def _first(self, folder: Path, names: list[str], what: str) -> Path:
        for name in names:
            if (self.path / folder / name).is_file():
                return self.path / folder / name
        return self.require(folder / names[0], what)

    # -- what is there ------------------------------------------------------
    def subjects(self, space: str) -> list[int]:
        """Subjects with betas in ``space``."""
        found = []
        for folder in (self.path / "nsddata_betas/ppdata").glob("subj*"):
            match = re.fullmatch(r"subj(\d+)", folder.name)
            if match and (folder / space / BETAS_VERSION).is_dir():
                found.append(int(match.group(1)))
        return sorted(found)

    def check_subject(self, subject: int, space: str) -> int:
        check_option("space", space, SPACES)
        available = self.subjects(space)
        if subject not in available:
            listed = ", ".join(map(str, available)) or "none"
            raise ToposcopeError(
                f"NSD subject {subject!r} has no {space} betas under "
                f"{str(self.path / 'nsddata_betas/ppdata')!r}; available subjects: {listed}"
            )
        return subject

    def sessions(self, subject: int, space: str) -> list[int]:
        """Sessions with betas files for ``subject`` (fsaverage: the lh file)."""
        folder = self.path / self.betas_dir(subject, space)
        pattern = r"lh\.betas_session(\d+)\.mg[hz]" if space == "fsaverage" else r"betas_session(\d+)\.nii(\.gz)?"
        found = {int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(pattern, p.name))}
        return sorted(found)

    def roi_collections(self, subject: int, space: str, with_table: bool = True) -> list[str]:
        """ROI collections with files for both hemispheres (and, by default, a label table).

        Label folders also hold maps that are not ROIs, such as mean images;
        the label table tells the two apart.
        """
        folder = self.path / self.roi_dir(subject, space)
        suffix = ".mgz" if space == "fsaverage" else ".nii.gz"
        if not folder.is_dir():
            return []
        names = {p.name[3 : -len(suffix)] for p in folder.glob(f"lh.*{suffix}")}
        return sorted(n for n in names if (folder / f"rh.{n}{suffix}").is_file() and (
            not with_table or any((self.path / c).is_file() for c in self._ctab_candidates(subject, space, n))))


# --------------------------------------------------------------------------- design
@dataclass(frozen=True)
class Design:
    """The NSD experimental design, 0-based.

    Attributes
    ----------
    masterordering : ndarray, shape (n_planned_trials,)
        For each planned trial, the index of the image among a subject's images.
    subjectim : ndarray, shape (n_subjects, n_images)
        73k id of each of every subject's images.
    sharedix : ndarray, shape (n_shared,)
        73k ids of the images shown to every subject.
    """

    masterordering: np.ndarray
    subjectim: np.ndarray
    sharedix: np.ndarray

    @property
    def trials_per_session(self) -> int:
        return len(self.masterordering) // PLANNED_SESSIONS

    def trial_images(self, subject: int, sessions: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """73k id and session of every trial of ``sessions`` (1-based), in presentation order.

        Returns
        -------
        nsd_ids, session : ndarray of int, each shape (len(sessions) * trials_per_session,)
        """
        if not 1 <= subject <= len(self.subjectim):
            raise ToposcopeError(
                f"NSD subject {subject} is not in the design (it has subjects 1-{len(self.subjectim)})"
            )
        per = self.trials_per_session
        trials = np.concatenate([np.arange((s - 1) * per, s * per) for s in sessions])
        images = self.subjectim[subject - 1, self.masterordering[trials]]
        return images, np.repeat(np.asarray(sessions), per)


def read_design(root: NSDRoot) -> Design:
    """Read ``nsd_expdesign.mat`` and convert its 1-based indices to 0-based."""
    import scipy.io

    path = root.design()
    try:
        mat = scipy.io.loadmat(path)
    except (NotImplementedError, ValueError, OSError) as error:
        raise ToposcopeError(f"cannot read NSD design {str(path)!r} ({error}); re-download the file") from None
    missing = [k for k in ("masterordering", "subjectim", "sharedix") if k not in mat]
    if missing:
        raise ToposcopeError(f"NSD design {str(path)!r} lacks {', '.join(missing)}; re-download the file")
    order = np.asarray(mat["masterordering"]).astype(np.int64).ravel() - 1
    subjectim = np.atleast_2d(np.asarray(mat["subjectim"]).astype(np.int64)) - 1
    shared = np.asarray(mat["sharedix"]).astype(np.int64).ravel() - 1
    if len(order) == 0 or len(order) % PLANNED_SESSIONS:
        raise ToposcopeError(
            f"NSD design {str(path)!r} has {len(order)} trials in masterordering, not a multiple of the "
            f"{PLANNED_SESSIONS} planned sessions; re-download the file"
        )
    if order.min() < 0 or order.max() >= subjectim.shape[1] or subjectim.min() < 0:
        raise ToposcopeError(f"NSD design {str(path)!r} has indices out of range; re-download the file")
    return Design(order, subjectim, shared)


def read_stim_info(root: NSDRoot) -> dict[str, np.ndarray]:
    """Columns of ``nsd_stim_info_merged.csv`` that label images, indexed by 73k id.

    Returns
    -------
    dict
        ``coco_id`` (int), ``coco_split`` (str) and ``shared1000`` (bool), each
        an array whose position is the 73k id (``nsdId``).
    """
    path = root.stim_info()
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        needed = {"nsdId", "cocoId", "cocoSplit", "shared1000"}
        lacking = needed - set(reader.fieldnames or ())
        if lacking:
            raise ToposcopeError(
                f"stimulus info {str(path)!r} lacks columns {', '.join(sorted(lacking))}; re-download the file"
            )
        rows = [(int(r["nsdId"]), int(r["cocoId"]), r["cocoSplit"], r["shared1000"].strip() == "True")
                for r in reader]
    size = max(r[0] for r in rows) + 1 if rows else 0
    table = {"coco_id": np.full(size, -1, np.int64), "coco_split": np.full(size, "", object),
             "shared1000": np.zeros(size, bool)}
    for nsd_id, coco_id, split, shared in rows:
        table["coco_id"][nsd_id] = coco_id
        table["coco_split"][nsd_id] = split
        table["shared1000"][nsd_id] = shared
    return table


# --------------------------------------------------------------------------- ROIs, ncsnr
def read_ctab(path: Path) -> dict[int, str]:
    """Label id -> name from a FreeSurfer-style colour table (``id name [r g b a]`` per line)."""
    table = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#") and parts[0].lstrip("-").isdigit():
            table[int(parts[0])] = parts[1]
    return table


def read_labels(path: Path) -> tuple[np.ndarray, tuple[int, ...]]:
    """A label or value map, flattened in C order, and its spatial shape.

    Returns
    -------
    values : ndarray, shape (prod(shape),)
    shape : tuple of int
        Spatial shape: (163842, 1, 1) for an fsaverage hemisphere, (X, Y, Z) for a volume.
    """
    import nibabel as nib

    image = nib.load(str(path))
    values = np.asanyarray(image.dataobj)
    if values.ndim == 4 and values.shape[-1] == 1:
        values = values[..., 0]
    return values.reshape(-1), tuple(int(s) for s in values.shape)


# --------------------------------------------------------------------------- betas
def read_betas(path: Path, index: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Single-trial betas of some voxels from one session file, in percent signal change.

    Only the bounding box of the requested voxels is read, a block of trials at
    a time (nibabel array proxies; memory-mapped for uncompressed files), so a
    session never has to fit in memory.

    Parameters
    ----------
    path : Path
        ``.mgh``/``.mgz``/``.nii``/``.nii.gz`` betas file, shape ``shape + (n_trials,)``.
    index : ndarray of int, shape (n_voxels,)
        Flat C-order indices into ``shape``.
    shape : tuple of int
        Spatial shape the indices refer to (that of the ROI files).

    Returns
    -------
    ndarray, float32, shape (n_trials, n_voxels)
    """
    import nibabel as nib

    image = nib.load(str(path), keep_file_open=True)
    full = tuple(int(s) for s in image.shape)
    if full[:-1] != tuple(shape):
        raise ToposcopeError(
            f"betas file {str(path)!r} has spatial shape {full[:-1]} but the ROI files have {tuple(shape)}; "
            "use betas and ROIs of the same space"
        )
    n_trials = full[-1]
    multi = np.unravel_index(np.asarray(index), shape)
    low = [int(m.min()) for m in multi]
    box = tuple(slice(lo, int(m.max()) + 1) for lo, m in zip(low, multi))
    box_shape = tuple(s.stop - s.start for s in box)
    local = np.ravel_multi_index(tuple(m - lo for m, lo in zip(multi, low)), box_shape)
    # Integer files hold percent signal change x 300 (a float file is stored as is);
    # a header with its own scaling (not NSD's files) is trusted instead.
    unscaled = getattr(image.dataobj, "slope", 1.0) == 1.0 and getattr(image.dataobj, "inter", 0.0) == 0.0
    scale = 1.0 / INT_SCALE if np.dtype(image.get_data_dtype()).kind in "iu" and unscaled else 1.0
    out = np.empty((n_trials, len(local)), dtype=np.float32)
    step = max(1, BLOCK_BYTES // (4 * int(np.prod(box_shape))))
    for start in range(0, n_trials, step):
        stop = min(n_trials, start + step)
        block = np.asarray(image.dataobj[box + (slice(start, stop),)])
        out[start:stop] = block.reshape(-1, stop - start)[local].T
    if scale != 1.0:
        out *= scale
    return out


# --------------------------------------------------------------------------- images
def default_image_dir() -> Path:
    """``$TOPOSCOPE_CACHE/nsd_images`` (default ``~/.cache/toposcope/nsd_images``)."""
    root = os.environ.get("TOPOSCOPE_CACHE") or Path.home() / ".cache" / "toposcope"
    return Path(root) / "nsd_images"


def read_images(root: NSDRoot, nsd_ids: np.ndarray) -> np.ndarray:
    """Images by 73k id from ``nsd_stimuli.hdf5``.

    Returns
    -------
    ndarray, uint8, shape (len(nsd_ids), height, width, 3)
    """
    import h5py

    nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
    with h5py.File(root.stimuli(), "r") as handle:
        if "imgBrick" not in handle:
            raise ToposcopeError(f"{str(root.stimuli())!r} has no 'imgBrick' dataset; re-download the file")
        brick = handle["imgBrick"]
        if len(nsd_ids) and (nsd_ids.min() < 0 or nsd_ids.max() >= brick.shape[0]):
            raise ToposcopeError(f"73k ids must lie in 0-{brick.shape[0] - 1}; got {nsd_ids.min()}-{nsd_ids.max()}")
        # h5py reads fancy indices only in increasing order: read sorted, then reorder.
        unique, inverse = np.unique(nsd_ids, return_inverse=True)
        return brick[unique][inverse]


def write_images(root: NSDRoot, nsd_ids: np.ndarray, folder: Path, batch: int = 64) -> list[Path]:
    """Write images as ``nsdNNNNN.png`` into ``folder`` (skipping ones already there).

    Files appear atomically (temp + rename), so an interrupted run never leaves
    a half-written image for the next run to reuse.

    Returns
    -------
    list of Path, one per id, in the order of ``nsd_ids``
    """
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"nsd{int(i):05d}.png" for i in nsd_ids]
    todo = np.unique([int(i) for i, p in zip(nsd_ids, paths) if not p.is_file()])
    for start in range(0, len(todo), batch):
        ids = todo[start : start + batch]
        for nsd_id, pixels in zip(ids, read_images(root, ids)):
            target = folder / f"nsd{int(nsd_id):05d}.png"
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            Image.fromarray(pixels).save(tmp, format="PNG", compress_level=3)
            os.replace(tmp, target)
    return paths
