"""Train the shipped tiny Topoformers, ``topoformer/tiny`` and its non-topographic twin ``tiny-control``.

The reference's 1-layer classifier (``TransformerClassifier``, mean pooling,
post-norm block, 2 classes) with a 14 x 14 torus of 196 units learns an
acceptability task built offline from the project's grammar
(:mod:`toposcope.stimuli.grammar`): a sentence with a present-tense verb
against the same sentence with the verb's number flipped ("the dogs see" /
"the dogs sees"), so the model must relate each verb to its subject. The
topographic model uses the reference text config's widths (``sq = 0.1``,
``sr = 0.3``, circular masks, wrap-around); the control is the same network
with widths -1, trained on the same batches from the same initial weights of
the shared parameters. Training follows the reference: AdamW (lr 1e-3),
dropout 0.1, and the locally connected weights overwritten with their masked
magnitude at every training forward pass.

Then both are measured the way the issue asks: TGI (exact, every pair) of every
hooked layer over held-out grammar sentences, recorded beside the weights in
``topoformer.json``. Deterministic (fixed seeds, one thread); a few minutes on
two CPU cores.

Usage::

    python scripts/train_topoformer.py            # rewrite toposcope/data/topoformer/{tiny,tiny-control}
    python scripts/train_topoformer.py -o DIR     # write DIR/tiny and DIR/tiny-control
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "toposcope" / "data" / "topoformer"
RECORD = "topoformer.json"

#: Training settings; recorded in topoformer.json.
SETTINGS = {
    "seed": 0,
    "n_sentences": 8000,
    "steps": 1500,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "weight_decay": 0.01,
    "threads": 1,
    "held_out_sentences": 1000,
    "held_out_seed": 12345,
}
#: The architecture (the reference classifier's settings; a smaller sheet).
ARCHITECTURE = {"hidden_size": 196, "num_layers": 1, "forward_expansion": 2, "max_length": 48, "qkv_bias": True,
                "mask_type": "circular", "wrap": True, "pooling": "AVERAGE", "dropout": 0.1}
WIDTHS = {"tiny": (0.1, 0.3), "tiny-control": (-1, -1)}


def acceptability_pairs(n_sentences: int, seed: int) -> tuple[list[str], list[int]]:
    """Grammatical sentences with a present-tense verb (label 1) and the same with its number flipped (label 0)."""
    from toposcope.stimuli.grammar import LEXICON, generate_sentences

    flip = {**dict(zip(LEXICON["VBZ"], LEXICON["VBP"])), **dict(zip(LEXICON["VBP"], LEXICON["VBZ"]))}
    texts, labels = [], []
    for sentence in generate_sentences(4 * n_sentences, seed=seed):
        verbs = [i for i, (_, tag) in enumerate(sentence) if tag in ("VBZ", "VBP")]
        if not verbs:
            continue
        words = [w for w, _ in sentence]
        wrong = list(words)
        wrong[verbs[0]] = flip[wrong[verbs[0]]]
        texts += [" ".join(words), " ".join(wrong)]
        labels += [1, 0]
        if len(texts) >= 2 * n_sentences:
            break
    return texts, labels


def encode(tokenizer: Any, texts: list[str], max_length: int) -> tuple[Any, Any]:
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def train(config: Any, tokenizer: Any, texts: list[str], labels: list[int], settings: dict) -> tuple[Any, dict]:
    import torch
    import torch.nn.functional as F

    from toposcope.models.topoformer import topoformer_model

    model = topoformer_model(config, seed=settings["seed"])
    ids, mask = encode(tokenizer, texts, config.max_length)
    target = torch.tensor(labels)
    split = int(0.9 * len(texts))
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"],
                                  weight_decay=settings["weight_decay"])
    order = torch.Generator().manual_seed(settings["seed"])
    dropout = torch.Generator().manual_seed(settings["seed"] + 1)
    start = time.perf_counter()
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=dropout)))
        for step in range(settings["steps"]):
            rows = torch.randint(split, (settings["batch_size"],), generator=order)
            loss = F.cross_entropy(model(ids[rows], mask[rows]), target[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 250 == 0:
                print(f"  step {step:5d}  loss {float(loss.detach()):.3f}", flush=True)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predicted = model(ids[split:], mask[split:]).argmax(1)
    accuracy = float((predicted == target[split:]).float().mean())
    return model, {"train_seconds": round(seconds, 1), "held_out_accuracy": round(accuracy, 4)}


def measure(folder: Path, held_out: list[str]) -> dict[str, float]:
    """Exact TGI of every hooked layer over held-out sentences (mean over tokens per sentence)."""
    from toposcope import extract, load_model
    from toposcope.analysis.tgi import tgi

    subject = load_model("topoformer/classifier", checkpoint=str(folder))
    responses = extract(subject, held_out, batch_size=100, cache=False, progress=False)
    return {name.rsplit(".", 1)[-1] if "head." in name else name.split(".")[-1]: round(float(tgi(r)["tgi"]), 4)
            for name, r in responses.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="folder for tiny/ and tiny-control/")
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    args = parser.parse_args(argv)

    import torch
    from safetensors.torch import save_file

    from toposcope.io import atomic_path
    from toposcope.models.demo_lm import word_tokenizer
    from toposcope.models.subject import file_sha256
    from toposcope.models.topoformer import config_dict, topoformer_config
    from toposcope.stimuli.grammar import LEXICON, generate_sentences

    settings = {**SETTINGS, "steps": args.steps}
    torch.set_num_threads(settings["threads"])
    torch.use_deterministic_algorithms(True)
    tokenizer = word_tokenizer(sorted({w for ws in LEXICON.values() for w in ws}))
    texts, labels = acceptability_pairs(settings["n_sentences"], settings["seed"])
    held_out = [" ".join(w for w, _ in s) for s in
                generate_sentences(settings["held_out_sentences"], seed=settings["held_out_seed"])]
    records = {}
    for name, (sq, sr) in WIDTHS.items():
        print(f"{name}: sq={sq}, sr={sr}", flush=True)
        config = topoformer_config(None, variant="classifier", vocab_size=len(tokenizer), sq=sq, sr=sr, **ARCHITECTURE)
        model, result = train(config, tokenizer, texts, labels, settings)
        folder = args.output / name
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(state, str(tmp))
        with atomic_path(folder / "config.json") as tmp:
            tmp.write_text(json.dumps(config_dict(config), indent=2) + "\n", encoding="utf-8")
        tokenizer.save_pretrained(folder)
        result["tgi"] = measure(folder, held_out)
        result["sha256"] = file_sha256(folder / "model.safetensors")
        records[name] = result
        print(f"  held-out accuracy {result['held_out_accuracy']:.3f}; TGI {result['tgi']}", flush=True)
    record = {
        "model": "topoformer/tiny and topoformer/tiny-control",
        "task": "acceptability: grammatical sentences with a present-tense verb vs the verb's number flipped "
                "(toposcope.stimuli.grammar)",
        "architecture": {**ARCHITECTURE, "vocab_size": len(tokenizer), "widths": {k: list(v) for k, v in WIDTHS.items()}},
        "settings": settings,
        "measured_on": f"{settings['held_out_sentences']} held-out grammar sentences (seed {settings['held_out_seed']}), "
                       "mean over tokens, exact TGI over max_dist 0.1..0.8",
        "models": records,
        "torch_version": torch.__version__.split("+")[0],
    }
    for name in WIDTHS:
        with atomic_path(args.output / name / RECORD) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        for path in (args.output / name).iterdir():
            path.chmod(0o644)  # package data: readable by everyone
    return 0


if __name__ == "__main__":
    sys.exit(main())
