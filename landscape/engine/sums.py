"""Float64 sums of per-sample losses at K points, whole and per sample block, and what they
give: each point's mean, its standard error, an early stop, and the per-block sums that
`landscape.analysis.statistics` turns into jackknife errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["PointStats", "EarlyStop", "stop_mask", "mean_se", "SampleBlocks",
           "SAMPLE_ORDER_SEED", "DEFAULT_BLOCKS", "sample_order", "block_count", "Sums",
           "collect"]

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class PointStats:
    """Results for P points; standard errors are of each point's own mean (over `n` samples)."""

    loss: np.ndarray            # (P,) mean loss
    loss_se: np.ndarray         # (P,) standard error of the mean loss (NaN: loss_fn reduced)
    acc: np.ndarray | None      # (P,) accuracy in percent, None when not a classification;
                                # for sequences, of tokens (each sequence's fraction, averaged)
    acc_se: np.ndarray | None   # (P,) standard error of the accuracy, percent (binomial; for
                                # token accuracy an upper bound, as var <= p(1 - p) on [0, 1])
    samples: int                # N, the samples the data holds
    n: np.ndarray | None = None  # (P,) samples each point is averaged over (N without a stop)
    block_loss: np.ndarray | None = None     # (P, B) sum of the losses in each sample block
    block_correct: np.ndarray | None = None  # (P, B) correct predictions in each block
    block_n: np.ndarray | None = None        # (P, B) samples of each block the point read


SAMPLE_ORDER_SEED = 0  # the one random order of the samples: blocks, and an early stop's reads
DEFAULT_BLOCKS = 32    # sample blocks B; fewer when the data has few samples (`block_count`)
_MIN_BLOCK = 8         # no block holds fewer samples than this (unless the data is that small)


def block_count(samples: int, blocks: int = DEFAULT_BLOCKS) -> int:
    """How many blocks `samples` samples are split into: `blocks`, fewer when a block would
    hold under 8 samples, at least 2 (so a jackknife exists) when there are 2 samples."""
    if blocks < 2:
        raise ValueError(f"the number of sample blocks must be >= 2 (a jackknife leaves one "
                         f"out), got {blocks}")
    return max(min(blocks, samples // _MIN_BLOCK), min(samples, 2))


def sample_order(samples: int, seed: int = SAMPLE_ORDER_SEED) -> Tensor:
    """The seeded random order of `samples` samples (a permutation, int64): the order an early
    stop reads them in, and the order the sample blocks are cut from."""
    return torch.randperm(samples, generator=torch.Generator().manual_seed(seed))


@dataclass(frozen=True)
class SampleBlocks:
    """Which block each sample of the data falls in, for per-block sums at every point.

    The data's samples are put in one seeded random order (`sample_order`), and that order is
    cut into `count` contiguous blocks of near-equal size (sizes differ by at most 1). A
    sample's block depends only on its position in the data and the seed, so every point and
    every surface on the same data and seed share the blocks, whether the data is read in its
    own order or in the seeded one (`permuted=True`: the data was reordered by
    `sample_order` already, as for an early stop, and the blocks are contiguous in it).
    """

    ids: Tensor        # (N,) int64, block of the sample at each position of the data as read
    count: int         # B

    @staticmethod
    def make(samples: int, *, blocks: int = DEFAULT_BLOCKS, seed: int = SAMPLE_ORDER_SEED,
             permuted: bool = False, device: torch.device | None = None) -> SampleBlocks:
        """The blocks of `samples` samples (`block_count` of them), in the data's own order,
        or in the seeded order when `permuted`."""
        count = block_count(samples, blocks)
        in_order = torch.arange(samples, dtype=torch.int64) * count // max(samples, 1)
        if permuted:
            ids = in_order
        else:
            ids = torch.empty(samples, dtype=torch.int64)
            ids[sample_order(samples, seed)] = in_order
        return SampleBlocks(ids=ids.to(device), count=count)


@dataclass(frozen=True)
class EarlyStop:
    """Average a point over only as many samples as its mean loss needs.

    The samples are read in blocks of `block`, in the data's order (`compute_surface` puts
    them in one seeded random order first, the same for every point). After each block, a
    point whose relative standard error se(L̄)/|L̄| is at most `target` (to first order that
    is its standard error in log-loss) stops, if it has seen at least `min_samples`; a point
    whose loss is already inf/NaN stops too (it cannot become finite again). The others go
    on, up to all N samples.

    Where each point stops depends only on its own losses at the block boundaries, never on
    the batch size or on how many points share a pass.
    """

    target: float           # relative standard error of the mean loss
    block: int = 256        # samples between two checks
    min_samples: int = 512  # no point stops before it has seen this many

    def __post_init__(self) -> None:
        if not self.target > 0:
            raise ValueError(f"EarlyStop.target (a relative standard error) must be > 0, "
                             f"got {self.target}")
        if self.block < 1:
            raise ValueError(f"EarlyStop.block must be >= 1, got {self.block}")
        if self.min_samples < 1:
            raise ValueError(f"EarlyStop.min_samples must be >= 1, got {self.min_samples}")


def stop_mask(n: np.ndarray | int, total: np.ndarray, total_sq: np.ndarray,
              stop: EarlyStop) -> np.ndarray:
    """Which points may stop after `n` samples whose losses sum to `total` (squares:
    `total_sq`): at least `stop.min_samples` seen, and a standard error of the mean within
    `stop.target` of the mean (or a loss already inf/NaN)."""
    n_arr = np.asarray(n, dtype=np.float64)
    mean, se = mean_se(n_arr, total, total_sq)
    with np.errstate(invalid="ignore"):
        small = se <= stop.target * np.abs(mean)
    return (n_arr >= stop.min_samples) & (small | ~np.isfinite(total))


def mean_se(n: np.ndarray, total: np.ndarray, total_sq: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean of `n` samples summing to `total` (squares:
    `total_sq`), with the unbiased variance."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        mean = total / n
        var = np.maximum(total_sq / n - mean**2, 0.0) * n / np.maximum(n - 1, 1)
        return mean, np.sqrt(var / n)


class Sums:
    """Float64 running sums over samples for K points, kept on the device until collected;
    with an early stop, each point's sums as they were when it stopped (on the host)."""

    def __init__(self, k: int, device: torch.device | None,
                 blocks: SampleBlocks | None = None) -> None:
        self.n = 0
        self.blocks = blocks
        b = blocks.count if blocks is not None else 0
        # per block: loss, correct (K, B) and samples read (B,), the same for the K points
        self.block_sums = torch.zeros(2, k, b, dtype=torch.float64, device=device)
        self.block_n = torch.zeros(b, dtype=torch.float64, device=device)
        self.stopped_blocks = np.zeros((3, k, b))  # loss, correct, n at each point's stop
        self.loss = torch.zeros(k, dtype=torch.float64, device=device)
        self.loss_sq = torch.zeros(k, dtype=torch.float64, device=device)
        self.correct = torch.zeros(k, dtype=torch.float64, device=device)
        self.has_acc = False
        self.reduced = False
        self.active: np.ndarray | None = None  # points not stopped yet (None: no stop checked)
        self.stopped_n = np.zeros(k, dtype=np.int64)
        self.stopped = np.zeros((3, k))  # loss, loss_sq, correct at each point's stop

    def add(self, out: Tensor, y: Tensor, loss_fn: LossFn, accuracy: bool | None,
            first: int = 0) -> None:
        k, b = out.shape[0], y.shape[0]
        if out.dtype in (torch.float16, torch.bfloat16):
            out = out.float()
        losses = torch.stack([loss_fn(out[i], y) for i in range(k)]).double()
        ids = self.blocks.ids[first:first + b] if self.blocks is not None else None
        if losses.dim() == 1:  # loss_fn reduced each batch to its mean
            self.reduced = True
            self.loss += losses * b
        else:
            self.loss += losses.sum(1)
            self.loss_sq += losses.pow(2).sum(1)
            if ids is not None:
                self.block_sums[0].index_add_(1, ids, losses)
        if ids is not None:
            self.block_n.index_add_(0, ids, torch.ones_like(ids, dtype=torch.float64))
        use_acc = ((not y.is_floating_point() and out.dim() == y.dim() + 2)
                   if accuracy is None else accuracy)
        if use_acc:  # per sample: 0 or 1, or for a sequence the fraction of its tokens
            self.has_acc = True
            hits = (out.argmax(-1) == y).double()
            if hits.dim() > 2:
                hits = hits.flatten(2).mean(2)
            self.correct += hits.sum(1)
            if ids is not None:
                self.block_sums[1].index_add_(1, ids, hits)
        self.n += b

    def check(self, stop: EarlyStop) -> bool:
        """At a block boundary: keep the sums of the points that may stop now; True when no
        point is left running."""
        if self.reduced:
            raise ValueError("an early stop (target_se) needs the standard error of each "
                             "point's loss, but loss_fn returned one value per batch: make it "
                             "return one loss per sample (reduction='none')")
        host = torch.stack([self.loss, self.loss_sq, self.correct]).cpu().numpy()
        if self.active is None:
            self.active = np.ones(host.shape[1], dtype=bool)
        now = self.active & stop_mask(self.n, host[0], host[1], stop)
        self.stopped_n[now] = self.n
        self.stopped[:, now] = host[:, now]
        if self.blocks is not None and now.any():
            sums, counts = self.block_sums.cpu().numpy(), self.block_n.cpu().numpy()
            self.stopped_blocks[:2, now] = sums[:, now]
            self.stopped_blocks[2, now] = counts
        self.active &= ~now
        return not self.active.any()

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """(n (K,), sums (3, K): loss, loss_sq, correct) of each point where it ended."""
        host = torch.stack([self.loss, self.loss_sq, self.correct]).cpu().numpy()
        n = np.full(host.shape[1], self.n, dtype=np.int64)
        if self.active is not None:
            done = ~self.active
            n[done] = self.stopped_n[done]
            host[:, done] = self.stopped[:, done]
        return n, host

    def block_totals(self) -> np.ndarray | None:
        """(3, K, B): loss, correct and samples per block of each point where it ended; None
        without blocks (or with a loss reduced per batch, whose blocks cannot be split)."""
        if self.blocks is None or self.reduced:
            return None
        sums = self.block_sums.cpu().numpy()
        k = sums.shape[1]
        out = np.concatenate([sums, np.broadcast_to(self.block_n.cpu().numpy(),
                                                    (1, k, self.blocks.count))])
        if self.active is not None:
            done = ~self.active
            out[:, done] = self.stopped_blocks[:, done]
        return out


def collect(results: list[Sums], samples: int | None = None) -> PointStats:
    if not results or any(r.n == 0 for r in results):
        raise ValueError("the evaluation data is empty; pass at least one sample")
    parts = [r.totals() for r in results]
    n = np.concatenate([p[0] for p in parts])
    total, total_sq, correct = np.concatenate([p[1] for p in parts], axis=1)
    mean, se = mean_se(n, total, total_sq)
    if any(r.reduced for r in results):
        se = np.full_like(mean, np.nan)
    acc = acc_se = None
    if results[0].has_acc:
        p = correct / n
        acc = 100.0 * correct / n  # the 2018 code's 100.*c/n: equal counts, equal numbers
        acc_se = 100.0 * np.sqrt(p * (1 - p) / np.maximum(n - 1, 1))
    blocks = [r.block_totals() for r in results]
    block_loss = block_correct = block_n = None
    if all(b is not None for b in blocks):
        stacked = np.concatenate(blocks, axis=1)  # type: ignore[arg-type]
        block_loss, block_n = stacked[0], stacked[2].astype(np.int64)
        block_correct = stacked[1] if results[0].has_acc else None
    return PointStats(loss=mean, loss_se=se, acc=acc, acc_se=acc_se,
                      samples=samples if samples is not None else max(r.n for r in results),
                      n=n, block_loss=block_loss, block_correct=block_correct, block_n=block_n)
