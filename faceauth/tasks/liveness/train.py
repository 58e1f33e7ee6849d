"""The liveness trainer: `train_loop(config)` runs standalone, as a Tune trial or on DDP workers.

    python -m faceauth.train liveness --synthetic --epochs 10
    python -m faceauth.train liveness --data_root /data/casia --config configs/example.yaml --output_dir ./checkpoints

Each epoch trains on augmented batches of the train split (binary cross-entropy on the attack
logit, classes weighted equally), then scores the val split and reports the ISO/IEC 30107-3
metrics at the val EER threshold; the search minimises the val EER.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faceauth import session as sessions
from faceauth.config import build_config
from faceauth.metrics import pad_metrics
from faceauth.runlog import seed_everything
from faceauth.tasks.liveness.augment import augment
from faceauth.tasks.liveness.config import LivenessConfig
from faceauth.tasks.liveness.data import ImageSplit, load_splits
from faceauth.tasks.liveness.model import IMAGENET_MEAN, IMAGENET_STD, LivenessResNet
from faceauth.training import Objective, fit, make_optimizer, optimizer_step

# EER rather than ACER: on the val split, where the threshold is chosen at the EER, ACER is the EER
# up to ties, and the interpolated EER is the smoother signal for TPE and early stopping.
OBJECTIVE = Objective("eer", "min")


def model_args(config: LivenessConfig) -> dict[str, Any]:
    return {"width": config.width, "depth": config.depth, "dropout": config.dropout,
            "image_size": config.image_size, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def build_model(args: dict[str, Any]) -> LivenessResNet:
    return LivenessResNet(args["width"], args["depth"], args["dropout"], args["mean"], args["std"])


def to_input(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, S, S, 3) -> float (N, 3, S, S) in [0, 1] on the device (moved as uint8: 4x fewer bytes).
    A slice of the read-only memory map is copied here (torch wants writable memory)."""
    images = np.require(images, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"])
    return torch.from_numpy(images).to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def attack_scores(model: torch.nn.Module, images, device: torch.device, batch: int = 256) -> np.ndarray:
    """sigmoid(logit) per image, in float64: float32 sigmoids would tie near 0 and 1."""
    logits = [model(to_input(images[i:i + batch], device)).float().cpu() for i in range(0, len(images), batch)]
    return torch.sigmoid(torch.cat(logits).double()).numpy()


def split_metrics(split: ImageSplit, scores: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """PAD metrics of a split's scores; per attack type too when its attacks are typed."""
    return pad_metrics(scores[split.is_attack], scores[~split.is_attack], threshold, split.attack_type_labels())


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled epoch in full batches (a last partial batch is dropped: BatchNorm needs more than one
    sample and a tiny batch is a noisy step; it is another sample next epoch). Sorted within a batch
    so that reads from the memory-mapped cache go forward."""
    order = rng.permutation(n)
    if n < batch_size:
        return [np.sort(order)]
    return [np.sort(order[i:i + batch_size]) for i in range(0, n - batch_size + 1, batch_size)]


def train_loop(config: dict[str, Any]) -> None:
    cfg = build_config(LivenessConfig, config, "liveness config")
    session = sessions.current()
    seed_everything(cfg.seed)
    splits = load_splits(cfg)
    train, val = splits["train"], splits["val"]
    device = session.device(cfg.device)
    args = model_args(cfg)
    model = session.prepare_model(build_model(args), device)
    optimizer = make_optimizer(model.parameters(), cfg)

    attacks = int(train.is_attack.sum())
    pos_weight = torch.tensor((len(train) - attacks) / attacks if cfg.balance_classes else 1.0, device=device)
    # Label smoothing for one logit: targets pulled from {0, 1} towards 0.5.
    targets = torch.from_numpy(train.is_attack.astype(np.float32)) * (1 - cfg.label_smoothing) + cfg.label_smoothing / 2
    use_amp = cfg.amp and device.type == "cuda"

    def train_epoch(epoch: int) -> float:
        # Same batch order on every DDP rank (seeded by epoch), each rank taking its own share.
        batches = epoch_batches(len(train), cfg.batch_size, np.random.default_rng([cfg.seed, epoch]))
        steps = max(1, len(batches) // session.world_size)
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        generator = torch.Generator(device=device).manual_seed(cfg.seed * 100_003 + epoch * 101 + session.world_rank)
        total = torch.zeros((), device=device)
        for step in range(steps):
            index = batches[(step * session.world_size + session.world_rank) % len(batches)]
            x = augment(to_input(train.images[index], device), cfg.augment_strength, generator)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = model(x)
            loss = F.binary_cross_entropy_with_logits(logits.float(), targets[index].to(device), pos_weight=pos_weight)
            total += optimizer_step(optimizer, loss)
        return float(total) / steps

    def validate() -> dict[str, float]:
        return split_metrics(val, attack_scores(model, val.images, device))

    fit(task="liveness", config=cfg, session=session, model=model, model_args=args, optimizer=optimizer,
        train_epoch=train_epoch, validate=validate, objective=OBJECTIVE)
