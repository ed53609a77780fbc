"""A prototype of the fastest grid loop measured here, for the benchmark and for evaluate.py.

It is what docs/how-to/speed.md asks `landscape/evaluate.py` to do, written as one small loop so
each trick can be switched on and off and timed:

- BN folded once for the whole grid (`landscape.fold.fold_batchnorm`);
- only the moving tensors are updated per point, in place in preallocated buffers
  (`_foreach_copy_` of θ*, then one `_foreach_add_` per direction; no allocation per point);
- 4-D tensors and inputs in channels_last;
- a low precision as real bf16/fp16 weights and inputs (θ computed in fp32, then cast), not
  autocast;
- the per-batch forward + loss compiled once (`torch.compile(dynamic=False)`), the weights
  passed as inputs so no point recompiles;
- per-sample losses summed on the device in float64, one host sync per point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from landscape.fold import fold_batchnorm, to_channels_last
from landscape.types import Params

__all__ = ["FastLoop", "sync"]


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA timings are asynchronous otherwise)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class FastLoop:
    """The grid loop with each trick as a switch. `prepare()` once, then `run(coords)`."""

    model: nn.Module
    base: Params
    directions: list[Params]
    static: Params
    fold: bool = True
    channels_last: bool = True
    compile: bool = True
    dtype: torch.dtype = torch.float32
    batch_size: int = 128

    def prepare(self) -> float:
        """Fold, convert, allocate and (if asked) compile; returns the seconds it took."""
        start = time.perf_counter()
        model, base, dirs, static = self.model, self.base, self.directions, self.static
        self.folded = False
        if self.fold:
            folded = fold_batchnorm(model, base, dirs, static)
            if folded is not None:
                model, base, dirs, static = folded
                self.folded = True
        moving = [k for k in base if any(bool(d[k].any()) for d in dirs)]
        static = {**static, **{k: t for k, t in base.items() if k not in moving}}
        if self.channels_last:
            base, static = to_channels_last(base), to_channels_last(static)
            dirs = [to_channels_last(d) for d in dirs]
        static = {k: t.to(self.dtype) if t.is_floating_point() else t for k, t in static.items()}
        self._base = [base[k] for k in moving]
        self._dirs = [[d[k].to(base[k]) for k in moving] for d in dirs]
        self._theta = [t.clone() for t in self._base]  # fp32 θ, updated in place per point
        self._cast = ([t.to(self.dtype) for t in self._theta] if self.dtype != torch.float32
                      else self._theta)
        self._params = {**static, **dict(zip(moving, self._cast, strict=True))}
        self._net = model.eval()

        def step(params: Params, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
            out = functional_call(self._net, params, (x,)).float()
            loss = F.cross_entropy(out, y, reduction="none").double()
            return loss.sum(), (out.argmax(1) == y).sum()

        self._step = torch.compile(step, dynamic=False) if self.compile else step
        return time.perf_counter() - start

    def inputs(self, x: Tensor) -> Tensor:
        """The evaluation images in the loop's dtype and memory format (do this once)."""
        x = x.to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def run(self, coords: np.ndarray, x: Tensor, y: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy (%) at each row of `coords`; `x` from `inputs()`."""
        losses, hits = [], []
        with torch.inference_mode():
            for c in np.asarray(coords, dtype=np.float64).reshape(len(coords), -1):
                torch._foreach_copy_(self._theta, self._base)
                for d, ci in zip(self._dirs, c, strict=True):
                    if ci != 0.0:
                        torch._foreach_add_(self._theta, d, alpha=float(ci))
                if self._cast is not self._theta:
                    torch._foreach_copy_(self._cast, self._theta)
                loss = torch.zeros((), dtype=torch.float64, device=x.device)
                hit = torch.zeros((), dtype=torch.int64, device=x.device)
                for s in range(0, len(x), self.batch_size):
                    batch_loss, batch_hit = self._step(self._params, x[s:s + self.batch_size],
                                                       y[s:s + self.batch_size])
                    loss += batch_loss
                    hit += batch_hit
                losses.append(loss.item() / len(x))  # one host sync per point
                hits.append(100.0 * hit.item() / len(x))
        return np.array(losses), np.array(hits)
