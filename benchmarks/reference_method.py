"""The 2018 reference code's evaluation loop, re-implemented for the benchmark (no code copied).

What tomgoldstein/loss-landscape does for every grid point (plot_surface.py `crunch`,
net_plotter.py `set_weights`, evaluation.py `eval_loss`), and what this module reproduces:

1. set the weights as new tensors: for every parameter, `p.data = w + (dx·α + dy·β)`;
2. a full pass of a `torch.utils.data.DataLoader` (batch 128, `shuffle=False`, `num_workers` =
   its `--threads`, default 2) over a torchvision data set whose images are uint8 HWC arrays
   turned into tensors one image at a time by `ToTensor()` and `Normalize(mean, std)`;
3. under `torch.no_grad()` in eval mode, `nn.CrossEntropyLoss()` per batch, accumulated as
   `loss.item() * batch_size`, and top-1 hits via `max(outputs, 1)`.

The per-point HDF5 write of the reference code is left out (it only makes it slower).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import VisionDataset

__all__ = ["CIFAR_MEAN", "CIFAR_STD", "ImageArrayDataset", "reference_loader", "set_weights",
           "eval_loss", "normalize_batch"]

# The reference code's CIFAR-10 normalization (dataloader.py): per channel, in [0, 1] units.
CIFAR_MEAN = tuple(x / 255.0 for x in (125.3, 123.0, 113.9))
CIFAR_STD = tuple(x / 255.0 for x in (63.0, 62.1, 66.7))


class ImageArrayDataset(VisionDataset):
    """A torchvision-style data set over uint8 (N, H, W, C) images, like `datasets.CIFAR10`.

    `__getitem__` does what CIFAR10's does: `Image.fromarray` on one image, then the transform.
    """

    def __init__(self, images: np.ndarray, targets: np.ndarray,
                 transform: transforms.Compose | None = None) -> None:
        super().__init__(root="", transform=transform)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} "
                             f"{images.shape}")
        self.data = images
        self.targets = [int(t) for t in targets]

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        img, target = Image.fromarray(self.data[index]), self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        return img, target


def reference_loader(images: np.ndarray, targets: np.ndarray, *, batch_size: int = 128,
                     workers: int = 2) -> DataLoader:
    """The reference code's evaluation loader: ToTensor + Normalize per image, no shuffle."""
    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])
    return DataLoader(ImageArrayDataset(images, targets, transform), batch_size=batch_size,
                      shuffle=False, num_workers=workers)


def normalize_batch(images: np.ndarray) -> Tensor:
    """The same numbers as the per-image transform, for all images at once: (N, C, H, W)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().float().div(255)
    mean = torch.tensor(CIFAR_MEAN).view(1, -1, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, -1, 1, 1)
    return x.sub_(mean).div_(std)


def set_weights(net: nn.Module, weights: list[Tensor], directions: list[list[Tensor]],
                step: tuple[float, ...]) -> None:
    """θ = θ* + Σ step_i · d_i, assigned as new tensors (`p.data = ...`), in parameters() order."""
    if len(directions) == 2:
        changes = [d0 * step[0] + d1 * step[1]
                   for d0, d1 in zip(directions[0], directions[1], strict=True)]
    else:
        changes = [d * step[0] for d in directions[0]]
    for p, w, d in zip(net.parameters(), weights, changes, strict=True):
        p.data = w + d.to(w)


def eval_loss(net: nn.Module, loader: DataLoader, device: torch.device) -> tuple[float, float]:
    """(mean cross-entropy, accuracy %) over one full pass of `loader`."""
    criterion = nn.CrossEntropyLoss()
    correct, total_loss, total = 0, 0.0, 0
    net.eval()
    with torch.no_grad():
        for inputs, targets in loader:
            batch_size = inputs.size(0)
            total += batch_size
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            total_loss += loss.item() * batch_size
            _, predicted = torch.max(outputs.data, 1)
            correct += predicted.eq(targets).sum().item()
    return total_loss / total, 100.0 * correct / total
