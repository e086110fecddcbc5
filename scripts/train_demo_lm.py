"""Train the shipped tiny language model ``demo_lm`` on synthetic grammatical text.

A 4-block GPT-2 (64-dim embeddings, 256 MLP units per block) learns next-word
prediction on sentences of :mod:`toposcope.stimuli.grammar`, concatenated into
64-word sequences without punctuation, with ``tau * TopoLoss`` on the MLP input
layer of each block. Deterministic (fixed seeds, one thread, deterministic
kernels); one to two minutes on two CPU cores. Writes ``config.json``,
``model.safetensors``, the word-level tokenizer and ``demo_lm.json`` (settings,
losses, TopoLoss, sha256) to ``toposcope/data/demo_lm/``.

Usage::

    python scripts/train_demo_lm.py            # rewrite the shipped files
    python scripts/train_demo_lm.py -o DIR     # write elsewhere; load with load_model("demo_lm", checkpoint=DIR)
    python scripts/train_demo_lm.py -o DIR --save-steps 0,50,150,600
                                               # also keep DIR/checkpoints/step-N (a training trajectory)

Checkpoints over training go to ``DIR/checkpoints/step-N/`` (each a folder
``load_model("demo_lm", checkpoint=...)`` reads), with ``steps.csv`` listing
``step``, ``tokens`` (words seen: step x batch x sequence length) and
``checkpoint`` for :func:`toposcope.workflows.trajectory.checkpoint_series`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "toposcope" / "data" / "demo_lm"

#: Training settings; recorded in demo_lm.json.
SETTINGS = {
    "seed": 0,
    "n_sentences": 12000,
    "sequence_words": 64,
    "steps": 600,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "tau": 0.5,
    "factor": [3.0, 3.0],
    "threads": 1,
}


def sequences(settings: dict) -> tuple[Any, Any, int]:
    """Token ids (n_sequences, sequence_words), the tokenizer and held-out start index."""
    import torch

    from toposcope.models.demo_lm import word_tokenizer
    from toposcope.stimuli.grammar import LEXICON, generate_sentences

    sentences = generate_sentences(settings["n_sentences"], seed=settings["seed"])
    words = [w for sentence in sentences for w, _ in sentence]
    tokenizer = word_tokenizer(sorted({w for ws in LEXICON.values() for w in ws}))
    ids = torch.tensor(tokenizer.convert_tokens_to_ids(words), dtype=torch.long)
    n = len(ids) // settings["sequence_words"]
    data = ids[: n * settings["sequence_words"]].view(n, settings["sequence_words"])
    return data, tokenizer, int(0.95 * n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="folder for the model files")
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    parser.add_argument("--tau", type=float, default=SETTINGS["tau"], help="TopoLoss strength")
    parser.add_argument("--save-steps", default="", metavar="N,N,...",
                        help="also keep the model after these many steps in OUTPUT/checkpoints/step-N (0: untrained)")
    for key in ("n_sentences", "batch_size", "sequence_words"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=SETTINGS[key])
    args = parser.parse_args(argv)
    save_steps = sorted({int(n) for n in args.save_steps.split(",") if n.strip()})
    if any(n < 0 or n > args.steps for n in save_steps):
        parser.error(f"--save-steps must lie in 0..{args.steps}")

    import torch
    import torch.nn.functional as F

    from toposcope.analysis.topoloss import TopoLossPenalty
    from toposcope.io import atomic_path
    from toposcope.models.demo_lm import CONFIG, METADATA_FILE, build_model
    from toposcope.models.subject import file_sha256

    settings = {**SETTINGS, "steps": args.steps, "tau": args.tau, "n_sentences": args.n_sentences,
                "batch_size": args.batch_size, "sequence_words": args.sequence_words}
    torch.manual_seed(settings["seed"])
    torch.set_num_threads(settings["threads"])
    torch.use_deterministic_algorithms(True)
    data, tokenizer, split = sequences(settings)
    train, held_out = data[:split], data[split:]
    model = build_model(len(tokenizer))
    layers = [f"transformer.h.{i}.mlp.c_fc" for i in range(CONFIG["n_layer"])]
    penalty = TopoLossPenalty(model, layers, tau=settings["tau"], factor=tuple(settings["factor"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"], weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings["learning_rate"], total_steps=settings["steps"])
    order = torch.Generator().manual_seed(settings["seed"])
    start = time.perf_counter()
    words_per_step = settings["batch_size"] * settings["sequence_words"]
    kept: list[tuple[int, int, str]] = []

    def keep(step: int) -> None:
        folder = args.output / "checkpoints" / f"step-{step}"
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        kept.append((step, step * words_per_step, f"step-{step}"))

    if 0 in save_steps:
        keep(0)
    model.train()
    for step in range(settings["steps"]):
        batch = train[torch.randint(len(train), (settings["batch_size"],), generator=order)]
        logits = model(input_ids=batch).logits
        task = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        loss = task + penalty()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 200 == 0:
            print(f"step {step:5d}  loss {float(task.detach()):.3f}  topoloss {sum(penalty.values().values()):.3f}")
        if step + 1 in save_steps:
            model.eval()
            keep(step + 1)
            model.train()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=held_out).logits
        held = float(F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), held_out[:, 1:].reshape(-1)))

    args.output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.output, safe_serialization=True)
    tokenizer.save_pretrained(args.output)
    for path in args.output.iterdir():
        path.chmod(0o644)  # package data: readable by everyone (some writers start files private)
    record = {
        "model": "demo_lm",
        "data": "sentences of toposcope.stimuli.grammar, 64-word sequences, no punctuation",
        "architecture": {**CONFIG, "vocab_size": len(tokenizer)},
        "settings": settings,
        "train_seconds": round(seconds, 1),
        "held_out_cross_entropy": round(held, 4),
        "topoloss": {k: round(v, 6) for k, v in penalty.values().items()},
        "torch_version": torch.__version__.split("+")[0],
        "sha256": file_sha256(args.output / "model.safetensors"),
    }
    with atomic_path(args.output / METADATA_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if kept:
        with atomic_path(args.output / "checkpoints" / "steps.csv") as tmp:
            tmp.write_text("step,tokens,checkpoint\n" + "".join(f"{s},{t},{c}\n" for s, t, c in kept), encoding="utf-8")
    print(f"held-out cross-entropy {held:.3f} nats/word; TopoLoss "
          + ", ".join(f"{v:.3f}" for v in record["topoloss"].values()) + f"  ({seconds:.0f} s) -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
