"""The temporal liveness trainer: `train_loop(config)` runs standalone, as a Tune trial or on DDP workers.

    python -m faceauth.train temporal --synthetic --epochs 20
    python -m faceauth.train temporal --data_root /data/videos --config configs/example.yaml
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
from faceauth.tasks.temporal.config import TemporalConfig
from faceauth.tasks.temporal.data import VideoSet, eval_windows, feature_statistics, load_splits, train_windows
from faceauth.tasks.temporal.model import TemporalLSTM
from faceauth.training import Objective, fit, make_optimizer, optimizer_step

# The validation EER, minimised: ACER at the validation EER threshold equals it on that split up to
# ties, and the interpolated EER is the smoother signal for TPE and ASHA (as for liveness).
OBJECTIVE = Objective("eer", "min")


def model_args(config: TemporalConfig, train: VideoSet) -> dict[str, Any]:
    return {
        "feature_dim": int(train.features[0].shape[1]),
        "hidden_size": config.hidden_size,
        "num_layers": config.num_layers,
        "bidirectional": config.bidirectional,
        "dropout": config.dropout,
        "summary": config.summary,
        # Not shape-defining, but how the model is used: what its input is and how windows are cut.
        "seq_len": config.seq_len,
        "frame_stride": config.frame_stride,
        "frame_extractor": train.extractor,
    }


def build_model(args: dict[str, Any]) -> TemporalLSTM:
    return TemporalLSTM(args["feature_dim"], args["hidden_size"], args["num_layers"], args["bidirectional"], args["dropout"],
                        args.get("summary", False))


@torch.no_grad()
def video_scores(model: torch.nn.Module, videos: VideoSet, seq_len: int, stride: int, device: torch.device,
                 batch: int = 1024) -> np.ndarray:
    """Each video's attack score: the mean attack probability of its half-overlapping windows."""
    windows, owners = eval_windows(videos, seq_len, stride)
    x = torch.from_numpy(windows)
    probabilities = torch.cat([torch.sigmoid(model(x[i:i + batch].to(device)).float()).cpu()
                               for i in range(0, len(x), batch)]).numpy().astype(np.float64)
    return np.bincount(owners, weights=probabilities, minlength=len(videos)) / np.bincount(owners, minlength=len(videos))


def split_metrics(videos: VideoSet, scores: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """PAD metrics per video; without a threshold, this split's EER threshold (right on validation only)."""
    return pad_metrics(scores[videos.is_attack], scores[~videos.is_attack], threshold, videos.attack_type_labels())


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled epoch in batches; a last batch smaller than half a batch joins the previous one."""
    order = rng.permutation(n)
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size // 2:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def train_loop(config: dict[str, Any]) -> None:
    cfg = build_config(TemporalConfig, config, "temporal config")
    session = sessions.current()
    seed_everything(cfg.seed)
    splits = load_splits(cfg)  # test too: every video is checked before training, not after
    train, val = splits["train"], splits["val"]
    device = session.device(cfg.device)
    args = model_args(cfg, train)
    mean, std = feature_statistics(train)
    model = build_model(args)
    model.set_feature_scaling(mean, std)
    if cfg.summary:
        model.set_summary_scaling(torch.from_numpy(eval_windows(train, cfg.seq_len, cfg.frame_stride)[0]))
    model = session.prepare_model(model, device)
    optimizer = make_optimizer(model.parameters(), cfg)
    use_amp = cfg.amp and device.type == "cuda"

    def train_epoch(epoch: int) -> float:
        # Same windows and batch order on every DDP rank (seeded by epoch), each rank taking its share.
        rng = np.random.default_rng([cfg.seed, epoch])
        x, y = train_windows(train, cfg.seq_len, cfg.frame_stride, cfg.augment_strength, std, rng)
        attacks = float(y.sum())
        pos_weight = torch.tensor((len(y) - attacks) / max(attacks, 1.0) if cfg.balance_classes else 1.0, device=device)
        batches = epoch_batches(len(y), cfg.batch_size, rng)
        steps = max(1, len(batches) // session.world_size)
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        total = torch.zeros((), device=device)
        for step in range(steps):
            index = batches[(step * session.world_size + session.world_rank) % len(batches)]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = model(torch.from_numpy(x[index]).to(device))
            targets = torch.from_numpy(y[index]).to(device)
            loss = F.binary_cross_entropy_with_logits(logits.float(), targets, pos_weight=pos_weight)
            total += optimizer_step(optimizer, loss)
        return float(total) / steps

    def validate() -> dict[str, float]:
        return split_metrics(val, video_scores(model, val, cfg.seq_len, cfg.frame_stride, device))

    fit(task="temporal", config=cfg, session=session, model=model, model_args=args, optimizer=optimizer,
        train_epoch=train_epoch, validate=validate, objective=OBJECTIVE)
