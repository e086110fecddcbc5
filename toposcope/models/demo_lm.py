"""``demo_lm``: a tiny TopoLoss-trained GPT-2 on synthetic grammatical text, shipped with toposcope.

Trained by ``scripts/train_demo_lm.py`` (deterministic, about a minute on two
CPU cores) on sentences of :mod:`toposcope.stimuli.grammar`, with TopoLoss on
the MLP input layer (``mlp.c_fc``) of every block. The folder
``toposcope/data/demo_lm/`` holds what ``save_pretrained`` writes (config,
safetensors weights), a word-level tokenizer built with the ``tokenizers``
library, and ``demo_lm.json`` (settings, loss, TopoLoss, sha256). It loads
offline through the ``hf:`` adapter, so its four topographic layers
``h.N.mlp.c_fc`` (256 units each, a 16 x 16 sheet) are what every language
analysis sees.

Architecture: GPT-2, 4 blocks, 64-dimensional embeddings, 4 heads, 256 MLP
units, 128 positions, one token per word (unknown words -> ``[UNK]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError
from toposcope.models.subject import Subject

__all__ = ["CONFIG", "METADATA_FILE", "SPECIALS", "build_model", "data_dir", "demo_lm_metadata", "load_demo_lm",
           "word_tokenizer"]

#: GPT-2 settings of the demo model (vocabulary size comes from the tokenizer).
CONFIG = {"n_layer": 4, "n_embd": 64, "n_head": 4, "n_inner": 256, "n_positions": 128}
#: Special tokens: padding, unknown words, end of text.
SPECIALS = ("[PAD]", "[UNK]", "[EOS]")
METADATA_FILE = "demo_lm.json"


def data_dir() -> Path:
    """The package folder of the shipped model."""
    return Path(str(resources.files("toposcope") / "data" / "demo_lm"))


def word_tokenizer(words: Iterable[str]) -> Any:
    """A fast word-level tokenizer: one id per lowercase whitespace word, others ``[UNK]``.

    Built with the ``tokenizers`` library and wrapped as a transformers
    ``PreTrainedTokenizerFast`` (offsets included, so word-level extraction works).
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for word in dict.fromkeys(w.lower() for w in words):
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   eos_token="[EOS]", bos_token="[EOS]",
                                   model_input_names=["input_ids", "attention_mask"])


def build_model(vocab_size: int) -> Any:
    """An untrained demo GPT-2 with a language-model head."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab_size, bos_token_id=2, eos_token_id=2, pad_token_id=0,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **CONFIG)
    return GPT2LMHeadModel(config)


def demo_lm_metadata(folder: str | Path | None = None) -> dict[str, Any]:
    """The training record of the shipped model (settings, loss, TopoLoss, sha256)."""
    path = Path(folder or data_dir()) / METADATA_FILE
    if not path.is_file():
        raise ToposcopeError(f"demo LM training record {path.name!r} is missing; run scripts/train_demo_lm.py")
    return json.loads(path.read_text(encoding="utf-8"))


def load_demo_lm(rest: str = "", *, checkpoint: str | Path | None = None,
                 layers: Iterable[str] | str | None = None) -> Subject:
    """``demo_lm`` as a Subject, from the package data (or ``checkpoint=DIR`` of a fresh run).

    Parameters
    ----------
    rest : str
        Nothing, or ``"topo"`` (the one shipped model).
    checkpoint : path, optional
        A folder written by ``scripts/train_demo_lm.py -o DIR``.
    layers : optional
        Layers to hook instead of the four ``h.N.mlp.c_fc``.

    Returns
    -------
    Subject
        Language modality, named ``demo_lm``.
    """
    from toposcope.models.hf import load_hf

    name = rest.strip("/")
    if name not in ("", "topo"):
        raise ToposcopeError(f"unknown demo language model {rest!r}; the shipped one is demo_lm")
    folder = Path(checkpoint).expanduser() if checkpoint is not None else data_dir()
    if not (folder / "config.json").is_file():
        raise ToposcopeError(
            f"the demo language model is missing from {str(folder)!r}; reinstall toposcope or run "
            "scripts/train_demo_lm.py"
        )
    subject = load_hf(str(folder), layers=layers)
    subject.name = "demo_lm"
    subject.options = {"checkpoint": None if checkpoint is None else str(checkpoint)}
    return subject
