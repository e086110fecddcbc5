"""What the Brain-Score vision and language integrations share.

Installation checks with the exact install command, benchmark names read from
Brain-Score's own plugin registrations, a region-to-layer map that never falls
back to searching layers, the checkpoint-hashed model identifier, offline
detection of the BrainIO files a benchmark needs, and the score as a small
netCDF-ready Dataset.

Nothing here imports Brain-Score at module level: the packages live in their own
environments (see :mod:`toposcope.brain.brainscore_vision`), and this module must
import in the main one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, close_matches

#: kind -> (import name, distribution and extra name)
PACKAGES = {
    "vision": ("brainscore_vision", "brainscore-vision"),
    "language": ("brainscore_language", "brainscore-language"),
}

#: Benchmark identifiers that belong to brainscore-language (its 2.3.0 plugins); all others are vision.
LANGUAGE_PREFIXES = ("Pereira2018", "Blank2014", "Fedorenko2016", "Futrell2018", "Tuckute2024",
                     "Wikitext", "syntaxgym")


def benchmark_kind(benchmark: str) -> str:
    """``"language"`` for brainscore-language benchmark identifiers, else ``"vision"``."""
    return "language" if str(benchmark).startswith(LANGUAGE_PREFIXES) else "vision"


#: Environment for every scoring run: never pip-install plugin requirements
#: behind the user's back, and never probe the cloud metadata service for
#: credentials (Brain-Score's public data downloads unsigned).
SCORING_ENVIRONMENT = {"BS_INSTALL_DEPENDENCIES": "no", "AWS_EC2_METADATA_DISABLED": "true"}


def install_hint(kind: str) -> str:
    """The commands that install one integration, as they appear in error messages."""
    extra = PACKAGES[kind][1]
    return (
        f"run `toposcope brainscore --setup {kind}` (a dedicated environment that "
        f"`toposcope brainscore` then uses by itself), or `pip install -e '.[{extra}]'` into this "
        "environment (it downgrades numpy, xarray and scikit-learn)"
    )


def require(kind: str) -> Any:
    """Import and return ``brainscore_vision`` / ``brainscore_language``, or say how to install it."""
    module, extra = PACKAGES[kind]
    try:
        with warnings.catch_warnings():
            # brainscore-core's Score predates xarray's __slots__ advice: noise, not the user's problem
            warnings.filterwarnings("ignore", message="xarray subclass", category=FutureWarning)
            return importlib.import_module(module)
    except ImportError as error:
        raise ToposcopeError(
            f"Brain-Score {kind} ({extra}) is not installed in this environment "
            f"({type(error).__name__}: {error}); {install_hint(kind)}"
        ) from None


@contextlib.contextmanager
def scoring_environment() -> Iterator[None]:
    """Set :data:`SCORING_ENVIRONMENT` for the duration of a scoring run, then restore."""
    saved = {key: os.environ.get(key) for key in SCORING_ENVIRONMENT}
    os.environ.update(SCORING_ENVIRONMENT)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_REGISTRATION = re.compile(r"""benchmark_registry\[\s*['"]([^'"]+)['"]\s*\]""")


def known_benchmarks(kind: str) -> list[str]:
    """Benchmark identifiers registered by the installed Brain-Score package, sorted.

    Read from the plugins' ``__init__.py`` files, exactly where Brain-Score's own
    plugin loader looks, so nothing is imported (or downloaded) to list them.
    """
    package = require(kind)
    root = Path(package.__file__).parent / "benchmarks"
    names: set[str] = set()
    for init in root.glob("*/__init__.py"):
        names.update(_REGISTRATION.findall(init.read_text(encoding="utf-8")))
    names.update(getattr(package, "benchmark_registry", {}))
    return sorted(names)


def check_benchmark(kind: str, name: str) -> str:
    """Return ``name`` if the installed package knows it, else a one-line error listing a few."""
    if not isinstance(name, str) or not name:
        raise ToposcopeError(f"benchmark must be a Brain-Score identifier string, got {name!r}")
    known = known_benchmarks(kind)
    if name in known:
        return name
    near = close_matches(name, known, n=3)
    shown = near or [k for k in known if k.endswith("-pls") or "Pereira" in k][:4] or known[:4]
    raise ToposcopeError(
        f"unknown {kind} benchmark {name!r}; known include {', '.join(shown)} "
        f"({len(known)} in all: `toposcope brainscore --list-benchmarks {kind}`)"
    )


def load_benchmark(kind: str, name: str, *, offline: bool = False) -> Any:
    """A Brain-Score benchmark by identifier, its data fetched or named when missing offline."""
    package = require(kind)
    check_benchmark(kind, name)
    with scoring_environment(), brainio_files(offline=offline, what=f"benchmark {name!r}"):
        if name in getattr(package, "benchmark_registry", {}):
            # registered in this process (a user's own benchmark): no plugin to import
            return package.benchmark_registry[name]()
        return package.load_benchmark(name)


class RegionLayerMap(dict):
    """Region -> layer(s); a region nobody mapped is a one-line error, never a layer search.

    Brain-Score's ``ModelCommitment`` would score every layer on a public
    benchmark to choose one when no map is given; handing it this dict makes
    the commitment explicit and the failure for a missing region immediate.
    """

    spec = "MODEL"

    def __missing__(self, region: str) -> Any:
        raise ToposcopeError(unmapped_region_message(region, self, self.spec))


def unmapped_region_message(region: str, mapping: Mapping[str, Any], spec: str, benchmark: str = "") -> str:
    """The one line for a benchmark region with no layer mapped."""
    source = f"benchmark {benchmark!r} records" if benchmark else "the benchmark records"
    mapped = ", ".join(f"{r}={v}" for r, v in mapping.items()) or "none"
    return (
        f"{source} region {region!r} but no layer is mapped to it (mapped: {mapped}); "
        f"pass --region-layer {region}=LAYER (see `toposcope layers {spec}`)"
    )


def parse_region_layers(items: Sequence[str]) -> dict[str, list[str]]:
    """``["IT=layer4.1.conv2", "V4=layer3.0.conv1,layer3.1.conv1"]`` -> region -> layers."""
    mapping: dict[str, list[str]] = {}
    for item in items:
        region, sep, layers = str(item).partition("=")
        names = [name.strip() for name in layers.split(",") if name.strip()]
        if not sep or not region.strip() or not names:
            raise ToposcopeError(f"region-layer {item!r} is not REGION=LAYER; write e.g. IT=layer4.1.conv2")
        mapping.setdefault(region.strip(), []).extend(names)
    return mapping


def check_region_layers(subject: Any, region_layers: Mapping[str, Any]) -> RegionLayerMap:
    """Validate region -> layer name(s) against the model's modules.

    Any submodule may be committed to a region (Brain-Score flattens its output),
    though the subject's topographic layers are the ones whose units lie on a sheet.
    """
    if isinstance(region_layers, str) or not isinstance(region_layers, Mapping) or not region_layers:
        raise ToposcopeError(
            f"region_layers must map at least one region to a layer, e.g. {{'IT': 'layer4.1.conv2'}}, "
            f"got {region_layers!r}"
        )
    checked = RegionLayerMap()
    checked.spec = subject.name or "MODEL"
    for region, layers in region_layers.items():
        names = [layers] if isinstance(layers, str) else list(layers)
        if not names:
            raise ToposcopeError(f"region {region!r} has no layer; pass --region-layer {region}=LAYER")
        for name in names:
            try:
                subject.model.get_submodule(name)
            except AttributeError:
                topographic = ", ".join(subject.layers) or "none"
                raise ToposcopeError(
                    f"unknown layer {name!r} for region {region!r} in {checked.spec}; topographic layers: "
                    f"{topographic} (every module: `toposcope layers {checked.spec} --all`)"
                ) from None
        checked[str(region)] = names[0] if len(names) == 1 else names
    return checked


def model_identifier(subject: Any) -> str:
    """A Brain-Score model identifier that changes whenever the weights or preprocessing do.

    Brain-Score stores activations under this identifier (``~/.result_caching``),
    so two checkpoints of one architecture must never share it: the weights'
    sha256 and a hash of the preprocessing (transform or tokenizer) are part of it.
    The result is safe as a file name (Brain-Score puts it in one).
    """
    identity = subject.identity
    if not identity:
        from toposcope.models.subject import module_sha256

        identity = module_sha256(subject.model)
    if subject.modality == "language":
        tokenizer = subject.tokenizer
        size = len(tokenizer) if tokenizer is not None else 0
        preprocessing = f"{type(tokenizer).__name__}:{getattr(tokenizer, 'name_or_path', '')}:{size}"
    else:
        preprocessing = repr(subject.transform)
    prep = hashlib.sha256(preprocessing.encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", subject.name or "model").strip("-")
    return f"toposcope-{name}-{identity[:16]}-{prep}"


@contextlib.contextmanager
def brainio_files(*, offline: bool, what: str) -> Iterator[list[Path]]:
    """Name every BrainIO file that could not be had, instead of failing on the first.

    Brain-Score fetches each data file to ``$BRAINIO_HOME/<sha1>/<file name>``
    (default ``~/.brainio``) and reads it from there when present. Inside this
    context a file that is absent is recorded rather than downloaded (``offline``)
    or when its download fails; loading then goes on as far as it can (a stimulus
    set is fetched before its assembly is read), so the error names all the
    files one benchmark needs at once, each where Brain-Score will look for it.
    """
    from brainscore_core.supported_data_standards.brainio import fetch

    missing: list[Path] = []
    download, verify = fetch.BotoFetcher.download_boto, fetch.verify_sha1

    def record_or_download(fetcher: Any) -> None:
        if not offline:
            with contextlib.suppress(Exception):  # no network, no bucket: name the file below
                return download(fetcher)
            # a half-written file would otherwise pass for the real one on the next run
            Path(fetcher.output_filename).unlink(missing_ok=True)
        missing.append(Path(fetcher.output_filename))

    def verify_present(path: Any, sha1: str) -> None:
        if Path(path) not in missing:
            verify(path, sha1)

    fetch.BotoFetcher.download_boto, fetch.verify_sha1 = record_or_download, verify_present
    try:
        yield missing
    except Exception as error:
        if missing:
            raise ToposcopeError(missing_files_message(missing, what, offline)) from error
        raise
    finally:
        fetch.BotoFetcher.download_boto, fetch.verify_sha1 = download, verify
    if missing:
        raise ToposcopeError(missing_files_message(missing, what, offline))


def missing_files_message(missing: Sequence[Path], what: str, offline: bool) -> str:
    """One line naming each missing file relative to ``$BRAINIO_HOME``."""
    home = Path(fetch_home())
    names = []
    for path in dict.fromkeys(missing):
        try:
            names.append(str(path.relative_to(home)))
        except ValueError:
            names.append(str(path))
    why = "offline" if offline else "the download failed"
    return (
        f"{what} needs data that is not on this machine ({why}); place "
        f"{', '.join(names)} under BRAINIO_HOME ({home}), or run once with network access"
    )


def fetch_home() -> str:
    """Where Brain-Score keeps downloaded data: ``$BRAINIO_HOME`` or ``~/.brainio``."""
    from brainscore_core.supported_data_standards.brainio import fetch

    return os.path.expanduser(os.getenv(fetch.BRAINIO_HOME, "~/.brainio"))


def score_dataset(score: Any, subject: Any, benchmark: str, region_layers: Mapping[str, Any],
                  identifier: str, kind: str) -> Any:
    """The Brain-Score ``Score`` as a Dataset: ``score``, ``raw``, ``ceiling`` (and ``error``).

    Only scalars and provenance are kept, so the result writes to netCDF; the
    full Score (per-split values, per-neuroid ceilings) is what the benchmark
    returns when called directly.
    """
    import numpy as np
    import xarray as xr

    from toposcope.io import provenance

    def scalar(value: Any) -> float:
        if value is None:
            return float("nan")
        array = np.asarray(getattr(value, "values", value), dtype=float)
        return float(array.mean()) if array.size else float("nan")

    attrs = score.attrs
    values = {"score": scalar(score), "raw": scalar(attrs.get("raw")), "ceiling": scalar(attrs.get("ceiling"))}
    if "error" in attrs:
        values["error"] = scalar(attrs["error"])
    package = PACKAGES[kind][1]
    dataset = xr.Dataset({name: ((), np.float64(value)) for name, value in values.items()})
    dataset.attrs = provenance(
        **subject.provenance(),
        benchmark=benchmark,
        brainscore_model_identifier=identifier,
        region_layers="; ".join(
            f"{r}={','.join([v] if isinstance(v, str) else v)}" for r, v in region_layers.items()
        ),
        brainscore_package=f"{package} {_version(package)}",
    )
    return dataset


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
