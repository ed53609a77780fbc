"""Token data for language models: an embedded corpus generated in code, and nanoGPT's token files.

A sample is one sequence: inputs (T,) and targets (T,) int64, the targets being the inputs
shifted by one token (next-token prediction), T the block size.

The embedded corpus (`token_corpus`) needs no download. It is a seeded language with structure
a small transformer can learn: a sparse first-order Markov chain over 64 tokens (each token is
followed by one of four successors, with probabilities 0.6, 0.25, 0.1 and 0.05), and in half the
sequences a copy: a stretch of a quarter of the sequence from its first half appears again in its
second half, so that attention to earlier tokens (an induction head) predicts it exactly. A
model that knows only token frequencies scores the unigram entropy (`corpus_entropies`, about
4.1 nats); one that knows the chain about 1 nat; one that also copies less.

nanoGPT's files (`token_files`) are `train.bin` and `val.bin` in one folder, each a flat array
of uint16 token ids (numpy memmap, as nanoGPT's `prepare.py` scripts write them). A sample is a
window of T + 1 consecutive tokens starting at a multiple of T; `n` of them are chosen by a
seeded permutation of the windows, nested in `n`.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from .data import _check_memory

__all__ = ["TOKEN_LIMITS", "TOKEN_SIZES", "TOKEN_VOCAB", "corpus_entropies", "token_corpus",
           "token_files"]

TOKEN_VOCAB = 64
TOKEN_SIZES = {"train": 5000, "test": 1000}
TOKEN_LIMITS = {"train": 50_000, "test": 10_000}
"""The most sequences the embedded corpus generates per split; more is refused."""
_SUCCESSORS = (0.6, 0.25, 0.1, 0.05)
_BLOCK = 500          # sequences generated per seeded block
_FILES = {"train": "train.bin", "test": "val.bin"}


def _generator(*parts: object) -> torch.Generator:
    digest = hashlib.sha256("/".join(map(str, ("tokens", *parts))).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def _successors(seed: int) -> Tensor:
    """(V, 4) int64: the four successors of every token in the corpus of `seed`, most likely
    first."""
    gen = _generator(seed, "chain")
    return torch.stack([torch.randperm(TOKEN_VOCAB, generator=gen)[:len(_SUCCESSORS)]
                        for _ in range(TOKEN_VOCAB)])


def _chain(seed: int) -> Tensor:
    """The transition matrix (V, V) float64 of the corpus of `seed`."""
    table = torch.zeros(TOKEN_VOCAB, TOKEN_VOCAB, dtype=torch.float64)
    table.scatter_(1, _successors(seed), torch.tensor(_SUCCESSORS, dtype=torch.float64)
                   .expand(TOKEN_VOCAB, -1).contiguous())
    return table


def _stationary(table: Tensor) -> Tensor:
    p = torch.full((len(table),), 1.0 / len(table), dtype=torch.float64)
    for _ in range(2000):
        p = p @ table
    return p


def corpus_entropies(seed: int = 0) -> dict[str, float]:
    """Entropies (nats per token) of the chain behind the corpus of `seed`: `unigram` (of the
    stationary token frequencies: the loss of a model that knows only them) and `chain` (the
    chain's entropy rate, the loss of a model that knows the transitions but not the copies;
    the copies bring the corpus's own rate lower still)."""
    table = _chain(seed)
    p = _stationary(table)
    unigram = -float((p * p.clamp_min(1e-300).log()).sum())
    rows = -(table * table.clamp_min(1e-300).log()).sum(1)
    return {"unigram": unigram, "chain": float((p * rows).sum())}


def _generate_block(successors: Tensor, gen: torch.Generator, length: int) -> Tensor:
    """`_BLOCK` sequences (B, length) int64 from the chain, half of them with a copy."""
    n = _BLOCK
    seq = torch.empty(n, length, dtype=torch.int64)
    seq[:, 0] = torch.randint(TOKEN_VOCAB, (n,), generator=gen)
    bounds = torch.tensor(_SUCCESSORS, dtype=torch.float64).cumsum(0)[:-1]
    choice = (torch.rand(n, length, generator=gen, dtype=torch.float64)[..., None]
              > bounds).sum(-1)
    for t in range(1, length):
        seq[:, t] = successors[seq[:, t - 1], choice[:, t]]
    span = length // 4
    if span >= 2:
        copy = torch.rand(n, generator=gen) < 0.5
        half = length // 2
        src = torch.randint(0, half - span + 1, (n,), generator=gen)
        dst = torch.randint(half, length - span + 1, (n,), generator=gen)
        offsets = torch.arange(span)
        rows = copy.nonzero()[:, 0]
        seq[rows[:, None], dst[rows, None] + offsets] = seq[rows[:, None], src[rows, None]
                                                            + offsets]
    return seq


def _dataset(windows: Tensor, vocab_size: int) -> TensorDataset:
    dataset = TensorDataset(windows[:, :-1].contiguous(), windows[:, 1:].contiguous())
    dataset.vocab_size = vocab_size  # type: ignore[attr-defined]
    dataset.classes = [str(i) for i in range(vocab_size)]  # type: ignore[attr-defined]
    return dataset


def token_corpus(split: str = "train", n: int | None = None, *, seed: int = 0,
                 block_size: int = 32) -> TensorDataset:
    """The embedded token corpus (see the module docstring); nothing is read or downloaded.

    Args:
        split: "train" or "test" (disjoint draws from the same language).
        n: number of sequences; default 5,000 train and 1,000 test, at most 50,000 and 10,000.
        seed: which language and which sequences; the same seed gives the same data.
        block_size: tokens per sequence T.

    Returns:
        TensorDataset of inputs (n, T) int64 and targets (n, T) int64 (the inputs shifted by
        one), with `vocab_size` (64) and `classes` attributes.

    Raises:
        ValueError: unknown split, `n` or `block_size` out of range.
    """
    if split not in TOKEN_SIZES:
        raise ValueError(f"split must be one of {sorted(TOKEN_SIZES)}, got {split!r}")
    n = TOKEN_SIZES[split] if n is None else int(n)
    if not 1 <= n <= TOKEN_LIMITS[split]:
        raise ValueError(f"the token corpus has 1 to {TOKEN_LIMITS[split]:,} {split} sequences, "
                         f"got a request for {n:,}; pass --samples {TOKEN_LIMITS[split]} or "
                         f"fewer (n= in Python)")
    if not isinstance(block_size, int) or not 2 <= block_size <= 4096:
        raise ValueError(f"block_size (--block-size) must be an int from 2 to 4096, got "
                         f"{block_size!r}")
    successors = _successors(seed)
    blocks = [_generate_block(successors, _generator(seed, split, block_size, b), block_size + 1)
              for b in range(math.ceil(n / _BLOCK))]
    return _dataset(torch.cat(blocks)[:n], TOKEN_VOCAB)


def _window_order(count: int, n: int, seed: int) -> np.ndarray:
    """The first `n` of a seeded permutation of range(count), nested in `n`, in O(n) memory:
    i -> (a·i + b) mod count with `a` coprime to `count`."""
    rng = np.random.default_rng(seed)
    a = int(rng.integers(1, max(count, 2)))
    while math.gcd(a, count) != 1:
        a = a % count + 1
    b = int(rng.integers(0, count))
    return (a * np.arange(n, dtype=np.int64) + b) % count


def token_files(root: str | os.PathLike[str], split: str = "train", n: int | None = None, *,
                seed: int = 0, block_size: int = 32) -> TensorDataset:
    """Windows of a nanoGPT token file: `root/train.bin` (train) or `root/val.bin` (test).

    Args:
        root: the folder holding the files.
        split: "train" or "test".
        n: number of windows (default: all of them, if they fit in memory).
        seed: which windows.
        block_size: tokens per sample T (a window holds T + 1).

    Returns:
        TensorDataset of inputs (n, T) int64 and targets (n, T) int64, with `vocab_size` (the
        largest token id read, plus one).

    Raises:
        FileNotFoundError: no such file (the message names it).
        ValueError: a file too short for one window, odd-sized (not uint16), or `n` too large.
    """
    if split not in _FILES:
        raise ValueError(f"split must be one of {sorted(_FILES)}, got {split!r}")
    path = Path(root) / _FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"nanoGPT token file {str(path)!r} not found; point --data-root "
                                f"(root=) at the folder holding train.bin and val.bin (uint16 "
                                f"token ids, as nanoGPT's prepare.py writes them)")
    size = path.stat().st_size
    if size % 2:
        raise ValueError(f"{str(path)!r} has an odd number of bytes ({size:,}), so it is not a "
                         f"file of uint16 token ids")
    if not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"block_size (--block-size) must be an int >= 2, got {block_size!r}")
    tokens = np.memmap(path, dtype=np.uint16, mode="r")
    count = (len(tokens) - 1) // block_size
    if count < 1:
        raise ValueError(f"{str(path)!r} holds {len(tokens):,} tokens, too few for one window "
                         f"of {block_size + 1}; pass a smaller --block-size")
    n = count if n is None else int(n)
    if not 1 <= n <= count:
        raise ValueError(f"{str(path)!r} has {count:,} windows of {block_size + 1} tokens; pass "
                         f"--samples {count} or fewer (n= in Python)")
    nbytes = 2 * n * (block_size + 1) * 8
    _check_memory(nbytes, f"{n:,} windows of {str(path)!r}")
    starts = _window_order(count, n, seed) * block_size
    windows = np.stack([tokens[s:s + block_size + 1] for s in starts]).astype(np.int64)
    vocab = int(windows.max()) + 1
    return _dataset(torch.from_numpy(windows), vocab)
