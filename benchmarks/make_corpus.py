"""Generate a realistic PyTorch tree for the speed and memory benchmarks.

``--files N`` modules of about 190 lines each: data pipelines, CNN/Transformer models, metrics, configs and
utilities that never touch packing; ``--packing-share`` of them are RNN models that unpack with
``pad_packed_sequence``; ``--importer-share`` are train/eval scripts that import those models (as real projects
do), so the cross-file analysis has real work. ``--all-packing`` makes every file use packing (the worst case).
The generator is deterministic for a given seed; nothing it writes is committed.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

HEADER = '''"""{doc}"""
import math
import os
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
'''

PLAIN_BLOCK = '''

@dataclass
class Config{i}:
    hidden: int = {h}
    layers: int = 2
    dropout: float = 0.1
    lr: float = 1e-3


class ConvBlock{i}(nn.Module):
    """A residual 1-d convolution block."""

    def __init__(self, channels: int = {h}):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)
        self.norm = nn.BatchNorm1d(channels)

    def forward(self, x):
        residual = x
        x = F.relu(self.norm(self.conv1(x)))
        x = self.conv2(x)
        return F.relu(x + residual)


def accuracy{i}(logits, labels):
    preds = logits.argmax(dim=-1)
    correct = (preds == labels).float().sum()
    return (correct / max(labels.numel(), 1)).item()


def cosine_schedule{i}(step: int, total: int, base_lr: float = 1e-3) -> float:
    progress = min(step / max(total, 1), 1.0)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def load_split{i}(root: str, split: str = "train"):
    path = os.path.join(root, f"{{split}}.pt")
    if not os.path.exists(path):
        return []
    data = torch.load(path)
    return [(x, y) for x, y in zip(data["x"], data["y"])]
'''

PACKING_BLOCK = '''

class Encoder{i}(nn.Module):
    """A GRU encoder over padded token batches."""

    def __init__(self, vocab: int = 1000, hidden: int = {h}, n_tags: int = 9):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden, padding_idx=0)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, n_tags)

    def forward(self, tokens, lengths):
        packed = pack_padded_sequence(self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)
        return self.head(out)
'''

TRAIN_BLOCK = '''

def train_step{i}(model: Encoder, batch, optimizer):
    tokens, lengths, tags = batch
    logits = model(tokens, lengths)
    mask = torch.arange(logits.size(1))[None, :] < lengths[:, None]
    loss = F.cross_entropy(logits[mask], tags[mask])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
'''


def make_file(rng: random.Random, idx: int, kind: str, model_module: str | None) -> str:
    parts = [HEADER.format(doc=f"module {idx}: {kind}")]
    if kind == "packing":
        parts.append("from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence\n")
    if kind == "importer" and model_module:
        parts.append(f"from {model_module} import Encoder0 as Encoder\n")
    blocks = 0
    while sum(p.count("\n") for p in parts) < 170:
        h = rng.choice([64, 128, 256])
        parts.append(PLAIN_BLOCK.format(i=blocks, h=h))
        blocks += 1
    if kind == "packing":
        parts.append(PACKING_BLOCK.format(i=0, h=128))
    if kind == "importer":
        parts.append(TRAIN_BLOCK.format(i=0))
    return "".join(parts)


def generate(out: Path, files: int, packing_share: float, importer_share: float, all_packing: bool,
             seed: int = 0) -> dict[str, int]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    n_packing = files if all_packing else max(1, round(files * packing_share))
    n_import = 0 if all_packing else round(files * importer_share)
    counts = {"packing": 0, "importer": 0, "plain": 0, "lines": 0}
    pkg = out / "proj"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    for i in range(files):
        sub = pkg / f"sub{i % 20}"
        sub.mkdir(exist_ok=True)
        (sub / "__init__.py").touch()
        if i < n_packing:
            kind, model_module = "packing", None
        elif i < n_packing + n_import:
            kind, model_module = "importer", f"proj.sub{(i % n_packing) % 20}.m{i % n_packing}"
        else:
            kind, model_module = "plain", None
        text = make_file(rng, i, kind, model_module)
        (sub / f"m{i}.py").write_text(text, encoding="utf-8")
        counts[kind] += 1
        counts["lines"] += text.count("\n")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--packing-share", type=float, default=0.01)
    ap.add_argument("--importer-share", type=float, default=0.10)
    ap.add_argument("--all-packing", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(generate(args.out, args.files, args.packing_share, args.importer_share, args.all_packing, args.seed))


if __name__ == "__main__":
    main()
