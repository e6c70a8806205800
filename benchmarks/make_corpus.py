"""Generate a realistic PyTorch tree for the speed and memory benchmarks.

``--files N`` modules of about 190 lines each: data pipelines, CNN/Transformer models, metrics, configs and
utilities that never touch packing; ``--packing-share`` of them are RNN models that unpack with
``pad_packed_sequence``; ``--importer-share`` are train/eval scripts that import those models (as real projects
do), so the cross-file analysis has real work. ``--all-packing`` makes every file use packing (the worst case).

``--shape`` picks how the modules hang together (issue 16: real repositories are not flat):

- ``flat`` (the default, the original corpus): empty ``__init__.py`` files, modules import nothing of each other
  but the scripts importing a model;
- ``chain``: every module imports a helper of the module before it and calls it, in chains of ``--chain-length``
  modules (0: one chain through the whole tree), so each import closure is long;
- ``hub``: every sub-package ``__init__.py`` re-exports everything of its modules (``from .m3 import *``), the
  top package everything of every sub-package, and the scripts import their model through the top package;
- ``chain-hub``: both, the chain's imports going through the sub-package hubs.

In the shapes other than ``flat`` top-level names are unique per module (``Config0_17``) and the packing models and
scripts are spread over the tree by the seed instead of coming first. The generator is deterministic for a given
seed; nothing it writes is committed.
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


CHAIN_BLOCK = '''

def chained_accuracy{i}(logits, labels):
    """Delegates to the module before it in the chain."""
    return (accuracy0_{prev}(logits, labels) + accuracy0{i}(logits, labels)) / 2
'''

SHAPES = ("flat", "chain", "hub", "chain-hub")
BLOCK_NAMES = ("Config{i}", "ConvBlock{i}", "accuracy{i}", "cosine_schedule{i}", "load_split{i}")


def make_file(rng: random.Random, idx: int, kind: str, model_module: str | None, unique: bool = False,
              model_import: str | None = None, chain_import: str | None = None,
              prev: int | None = None) -> tuple[str, list[str]]:
    """The text of module ``idx`` and its top-level names. ``unique`` suffixes every name with ``_idx``;
    ``model_import`` / ``chain_import`` are the modules the script's model / the chain's helper come from."""
    tag = f"_{idx}" if unique else ""
    parts = [HEADER.format(doc=f"module {idx}: {kind}")]
    names: list[str] = []
    if kind == "packing":
        parts.append("from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence\n")
    if kind == "importer" and model_module:
        encoder = f"Encoder0_{model_module.rsplit('.m', 1)[1]}" if unique else "Encoder0"
        parts.append(f"from {model_import or model_module} import {encoder} as Encoder\n")
    if chain_import is not None and prev is not None:
        parts.append(f"from {chain_import} import accuracy0_{prev}\n")
    blocks = 0
    while sum(p.count("\n") for p in parts) < 170:
        h = rng.choice([64, 128, 256])
        i = f"{blocks}{tag}"
        parts.append(PLAIN_BLOCK.format(i=i, h=h))
        names.extend(n.format(i=i) for n in BLOCK_NAMES)
        blocks += 1
    if kind == "packing":
        parts.append(PACKING_BLOCK.format(i=f"0{tag}", h=128))
        names.append(f"Encoder0{tag}")
    if kind == "importer":
        parts.append(TRAIN_BLOCK.format(i=f"0{tag}"))
        names.append(f"train_step0{tag}")
    if chain_import is not None and prev is not None:
        parts.append(CHAIN_BLOCK.format(i=tag, prev=prev))
        names.append(f"chained_accuracy{tag}")
    return "".join(parts), names


def generate(out: Path, files: int, packing_share: float, importer_share: float, all_packing: bool,
             seed: int = 0, shape: str = "flat", chain_length: int = 25) -> dict[str, int]:
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
    if shape != "flat":
        return _generate_shaped(out, files, packing_share, importer_share, all_packing, seed, shape, chain_length)
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
        text, _ = make_file(rng, i, kind, model_module)
        (sub / f"m{i}.py").write_text(text, encoding="utf-8")
        counts[kind] += 1
        counts["lines"] += text.count("\n")
    return counts


def _generate_shaped(out: Path, files: int, packing_share: float, importer_share: float, all_packing: bool,
                     seed: int, shape: str, chain_length: int) -> dict[str, int]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    n_packing = files if all_packing else max(1, round(files * packing_share))
    n_import = 0 if all_packing else round(files * importer_share)
    kinds = ["packing"] * n_packing + ["importer"] * n_import + ["plain"] * (files - n_packing - n_import)
    rng.shuffle(kinds)
    packers = [i for i, k in enumerate(kinds) if k == "packing"]
    chained, hubs = shape in ("chain", "chain-hub"), shape in ("hub", "chain-hub")
    counts = {"packing": 0, "importer": 0, "plain": 0, "lines": 0, "chain_links": 0, "hub_reexports": 0}
    pkg = out / "proj"
    pkg.mkdir(exist_ok=True)
    sub_of = [i % 20 for i in range(files)]
    exported: dict[int, list[tuple[int, list[str]]]] = {}
    for i, kind in enumerate(kinds):
        sub = pkg / f"sub{sub_of[i]}"
        sub.mkdir(exist_ok=True)
        model_module = model_import = chain_import = prev = None
        if kind == "importer":
            k = packers[rng.randrange(len(packers))]
            model_module = f"proj.sub{sub_of[k]}.m{k}"
            model_import = "proj" if hubs else model_module
        if chained and i > 0 and (chain_length <= 0 or i % chain_length):
            prev = i - 1
            chain_import = f"proj.sub{sub_of[prev]}" if hubs else f"proj.sub{sub_of[prev]}.m{prev}"
            counts["chain_links"] += 1
        text, names = make_file(rng, i, kind, model_module, unique=True, model_import=model_import,
                                chain_import=chain_import, prev=prev)
        (sub / f"m{i}.py").write_text(text, encoding="utf-8")
        exported.setdefault(sub_of[i], []).append((i, names))
        counts[kind] += 1
        counts["lines"] += text.count("\n")
    top: list[str] = []
    for s_idx in sorted(exported):  # hubs re-export everything with star imports, module by module
        lines = [f"from .m{i} import *  # noqa: F403\n" for i, _ in exported[s_idx]] if hubs else []
        if hubs:
            top.append(f"from .sub{s_idx} import *  # noqa: F403\n")
            counts["hub_reexports"] += sum(len(names) for _, names in exported[s_idx])
        (pkg / f"sub{s_idx}" / "__init__.py").write_text("".join(lines), encoding="utf-8")
    (pkg / "__init__.py").write_text("".join(top), encoding="utf-8")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--packing-share", type=float, default=0.01)
    ap.add_argument("--importer-share", type=float, default=0.10)
    ap.add_argument("--all-packing", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shape", choices=SHAPES, default="flat")
    ap.add_argument("--chain-length", type=int, default=25, help="modules per import chain (0: one chain)")
    args = ap.parse_args()
    print(generate(args.out, args.files, args.packing_share, args.importer_share, args.all_packing, args.seed,
                   args.shape, args.chain_length))


if __name__ == "__main__":
    main()
