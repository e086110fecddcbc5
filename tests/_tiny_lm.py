"""Tiny GPT-2 and BERT folders built offline, for the ``hf:`` adapter and text-extraction tests.

Each builder trains a small sub-word tokenizer on :data:`CORPUS` (so that words
outside it split into several tokens), builds a randomly initialised model with
a fixed seed and writes both with ``save_pretrained``, exactly as a user's
``hf:DIR`` folder would look.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "the cat sat on the mat",
    "a dog was playing in the garden",
    "reading books is wonderful",
    "the children were laughing loudly",
    "green ideas sleep furiously",
]

#: Position-embedding length of both tiny models (and so the tokenizers' limit).
MAX_POSITIONS = 64
HIDDEN = 32
GPT2_UNITS = 4 * HIDDEN  # GPT-2's MLP is 4x wide
BERT_UNITS = 48


def gpt2_tokenizer():
    """Byte-level BPE (GPT-2 style), offsets keep the leading space, no pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # trim_offsets=False as in GPT-2: " cat" starts at the space, the harder case for words.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_input_names=["input_ids", "attention_mask"],
    )


def bert_tokenizer():
    """WordPiece with [CLS]/[SEP], lower-casing and accent stripping (BERT style)."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=120, special_tokens=specials, show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def build_gpt2(folder: Path, seed: int = 0) -> Path:
    """A 2-block GPT-2 (n_embd 32, so 128 MLP units per block) with its tokenizer in ``folder``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = gpt2_tokenizer()
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        n_layer=2,
        n_embd=HIDDEN,
        n_head=2,
        vocab_size=len(tokenizer),
        n_positions=MAX_POSITIONS,
        bos_token_id=eos,
        eos_token_id=eos,
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    # Saved with its LM head, as released GPT-2s are; the adapter loads the bare transformer.
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


def build_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BERT (hidden 32, 48 intermediate units) with its tokenizer in ``folder``."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = bert_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=BERT_UNITS,
        max_position_embeddings=MAX_POSITIONS,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)
