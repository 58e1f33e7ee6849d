"""How a liveness model trains (the `prepare` hook of its task):

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

from faceauth.training import session as sessions
from faceauth.training.fit import Precision, make_optimizer
from faceauth.tasks.base import TrainingRun
from faceauth.tasks.liveness.augment import augment
from faceauth.tasks.liveness.config import LivenessConfig
from faceauth.tasks.liveness.data import load_splits
from faceauth.tasks.liveness.model import (IMAGENET_MEAN, IMAGENET_STD, attack_scores, batch_loader, build_model,
                                           memory_format, to_input)
from faceauth.tasks.pad import split_metrics


def model_args(config: LivenessConfig) -> dict[str, Any]:
    return {"width": config.width, "depth": config.depth, "dropout": config.dropout,
            "image_size": config.image_size, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled epoch in full batches (a last partial batch is dropped: BatchNorm needs more than one
    sample and a tiny batch is a noisy step; it is another sample next epoch). Sorted within a batch
    so that reads from the memory-mapped cache go forward."""
    order = rng.permutation(n)
    if n < batch_size:
        return [np.sort(order)]
    return [np.sort(order[i:i + batch_size]) for i in range(0, n - batch_size + 1, batch_size)]


def prepare(cfg: LivenessConfig, session: sessions.Session) -> TrainingRun:
    """The data, model, optimiser and loss of one training run (Task.prepare)."""
    splits = load_splits(cfg)
    train, val = splits["train"], splits["val"]
    device = session.device(cfg.device)
    args = model_args(cfg)
    model = session.prepare_model(build_model(args).to(memory_format=memory_format(device, cfg.channels_last)), device)
    optimizer = make_optimizer(model.parameters(), cfg)

    attacks = int(train.is_attack.sum())
    pos_weight = torch.tensor((len(train) - attacks) / attacks if cfg.balance_classes else 1.0, device=device)
    # Label smoothing for one logit: targets pulled from {0, 1} towards 0.5.
    targets = torch.from_numpy(train.is_attack.astype(np.float32)) * (1 - cfg.label_smoothing) + cfg.label_smoothing / 2
    precision = Precision(cfg.amp, device)

    def train_epoch(epoch: int) -> float:
        # Same batch order on every DDP rank (seeded by epoch), each rank taking its own share.
        batches = epoch_batches(len(train), cfg.batch_size, np.random.default_rng([cfg.seed, epoch]))
        steps = max(1, len(batches) // session.world_size)
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        generator = torch.Generator(device=device).manual_seed(cfg.seed * 100_003 + epoch * 101 + session.world_rank)
        total = torch.zeros((), device=device)
        mine = [batches[(step * session.world_size + session.world_rank) % len(batches)] for step in range(steps)]
        for index, images in zip(mine, batch_loader(train.images, mine, cfg.loader_workers, device)):
            x = augment(to_input(images, device), cfg.augment_strength, generator)
            with precision.autocast():
                logits = model(x)
            loss = F.binary_cross_entropy_with_logits(logits.float(), targets[index].to(device), pos_weight=pos_weight)
            total += precision.step(optimizer, loss)
        return float(total) / steps

    def validate() -> dict[str, float]:
        return split_metrics(val, attack_scores(model, val.images, device))

    return TrainingRun(model=model, model_args=args, validate=validate, train_epoch=train_epoch, optimizer=optimizer)
