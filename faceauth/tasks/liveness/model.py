"""LivenessResNet: a ResNet (BasicBlocks, He et al. 2016, https://arxiv.org/abs/1512.03385) that scores
how likely a face image is a presentation attack. Torch only, trained from scratch.

Input: (batch, 3, S, S) RGB in [0, 1]; the model normalises with `mean` and `std` itself, so an ONNX
consumer only divides pixels by 255. Output: (batch,) attack logits; sigmoid(logit) is the attack
probability (faceauth.evaluation.metrics convention: higher = attack).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import torch
from torch import nn

from faceauth.tasks.liveness.config import BLOCKS_PER_STAGE

# ImageNet statistics: conventional; with BatchNorm after the first convolution any sane choice works.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut (a strided 1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        # Zero-init the last BN of each block: every block starts as the identity, which trains
        # deeper variants as easily as shallow ones (Goyal et al. 2017, https://arxiv.org/abs/1706.02677).
        nn.init.zeros_(self.bn2.weight)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class LivenessResNet(nn.Module):
    """The ImageNet ResNet layout: a 7x7/2 stem and 3x3/2 max-pool, four stages of BasicBlocks
    (width, 2, 4, 8 x width channels; stride 2 from the second on), global average pooling, dropout
    and one linear unit. `depth` 10, 18 or 34 picks the blocks per stage."""

    def __init__(self, width: int = 64, depth: int = 18, dropout: float = 0.0,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        super().__init__()
        if depth not in BLOCKS_PER_STAGE:
            raise ValueError(f"depth must be one of {sorted(BLOCKS_PER_STAGE)}, got {depth}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        blocks: list[nn.Module] = []
        channels = width
        for stage, count in enumerate(BLOCKS_PER_STAGE[depth]):
            out_channels = width * 2 ** stage
            for index in range(count):
                blocks.append(BasicBlock(channels, out_channels, stride=2 if stage > 0 and index == 0 else 1))
                channels = out_channels
        self.stages = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, 1))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = (image - self.mean) / self.std
        return self.head(self.stages(self.stem(x)))[:, 0]


def build_model(args: dict[str, Any]) -> LivenessResNet:
    return LivenessResNet(args["width"], args["depth"], args["dropout"], args["mean"], args["std"])


def to_input(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, S, S, 3) -> float (N, 3, S, S) in [0, 1] on the device (moved as uint8: 4x fewer bytes;
    from pinned memory without waiting). A slice of the read-only memory map is copied here (torch
    wants writable memory). The result is NCHW in channels_last memory order, as the pixels lie."""
    if not isinstance(images, torch.Tensor):
        images = torch.from_numpy(np.require(images, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"]))
    return images.to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 255


def memory_format(device: torch.device, channels_last: bool) -> torch.memory_format:
    """The CNN's weight layout: channels_last (NHWC) on CUDA when asked, where cuDNN's tensor-core
    convolutions run fastest and the inputs already lie so (`to_input`); contiguous otherwise."""
    return torch.channels_last if channels_last and device.type == "cuda" else torch.contiguous_format


class BatchReader(torch.utils.data.Dataset):
    """One item per batch of an epoch: the images at that batch's indices, as a uint8 tensor. Read by a
    DataLoader, so that with workers the next batches are gathered (from the memory-mapped cache, or
    decoded with `cache: false`) while the current one trains, and pinned for the GPU."""

    def __init__(self, images, batches: list[np.ndarray]):
        self.images, self.batches = images, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.require(self.images[self.batches[i]], np.uint8, ["C_CONTIGUOUS", "WRITEABLE"]))


def batch_loader(images, batches: list[np.ndarray], workers: int, device: torch.device) -> torch.utils.data.DataLoader:
    """The epoch's batches in order; `workers` processes read ahead (0: read in this process), and on
    CUDA each batch comes in pinned memory, so its copy to the GPU does not wait for the host."""
    return torch.utils.data.DataLoader(BatchReader(images, batches), batch_size=None, shuffle=False, num_workers=workers,
                                       pin_memory=device.type == "cuda", prefetch_factor=2 if workers else None)


@torch.no_grad()
def attack_scores(model: torch.nn.Module, images, device: torch.device, batch: int = 256) -> np.ndarray:
    """sigmoid(logit) per image, in float64: float32 sigmoids would tie near 0 and 1."""
    logits = [model(to_input(images[i:i + batch], device)).float().cpu() for i in range(0, len(images), batch)]
    return torch.sigmoid(torch.cat(logits).double()).numpy()
