"""How a temporal model trains (the `prepare` hook of its task):

    python -m faceauth.train temporal --synthetic --epochs 20
    python -m faceauth.train temporal --data_root /data/videos --config configs/example.yaml

The model starts from its closed-form head (clip_head.py: a logistic regression on window statistics,
its penalty chosen on the validation videos), validated as epoch 0. For `temporal_kind` lstm, the
LSTM residual then trains; an epoch replaces the start only where its validation EER is lower beyond
the noise of a bootstrap over the validation videos (30 videos per class make lucky epochs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faceauth.training import session as sessions
from faceauth.io.errors import FaceauthError
from faceauth.training.fit import Precision, make_optimizer
from faceauth.evaluation.metrics import pad_metrics
from faceauth.tasks.base import Evaluation, TrainingRun
from faceauth.tasks.pad import split_metrics
from faceauth.tasks.temporal.clip_head import fit_clip_head
from faceauth.tasks.temporal.config import TemporalConfig
from faceauth.tasks.temporal.data import VideoSet, feature_statistics, load_splits, train_windows
from faceauth.tasks.temporal.model import build_model, video_scores
from faceauth.evaluation.verdict import clearly_better


def model_args(config: TemporalConfig, train: VideoSet) -> dict[str, Any]:
    return {
        "feature_dim": int(train.features[0].shape[1]),
        "kind": config.temporal_kind,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_layers,
        "bidirectional": config.bidirectional,
        "dropout": config.dropout,
        "residual_bound": config.residual_bound if config.temporal_kind == "lstm" else 0.0,
        # Not shape-defining, but how the model is used: what its input is and how windows are cut.
        "seq_len": config.seq_len,
        "frame_stride": config.frame_stride,
        "frame_extractor": train.extractor,
    }


def clearly_beats(candidate: np.ndarray, reference: np.ndarray, videos: VideoSet) -> bool:
    """Whether `candidate` video scores have a lower EER than `reference` on these videos beyond the
    noise: the 95% bootstrap interval over videos of the EER gain lies above zero."""
    attack = videos.is_attack
    evaluation = Evaluation(
        {name: pad_metrics(s[attack], s[~attack]) for name, s in (("candidate", candidate), ("reference", reference))},
        {"candidate": (candidate[attack], candidate[~attack]), "reference": (reference[attack], reference[~attack])},
        groups=(np.flatnonzero(attack), np.flatnonzero(~attack)))
    return clearly_better(evaluation, "eer", "min")


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled epoch in batches; a last batch smaller than half a batch joins the previous one."""
    order = rng.permutation(n)
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size // 2:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def prepare(cfg: TemporalConfig, session: sessions.Session) -> TrainingRun:
    """The data, the closed-form start, the LSTM and its optimiser of one training run (Task.prepare)."""
    splits = load_splits(cfg)  # test too: every video is checked before training, not after
    train, val = splits["train"], splits["val"]
    device = session.device(cfg.device)
    args = model_args(cfg, train)
    mean, std = feature_statistics(train)
    model = build_model(args)
    model.set_feature_scaling(mean, std)
    args["clip_head"] = fit_clip_head(model, train, val, cfg.seq_len, cfg.frame_stride)
    trains = cfg.temporal_kind == "lstm"
    # DDP wraps only a model with something to train.
    model = session.prepare_model(model, device)
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg) if trains else None
    if trains and cfg.amp == "fp16" and device.type == "cpu":
        raise FaceauthError("amp: fp16 does not train the LSTM on CPU (torch's CPU LSTM has no fp16 kernel); "
                            "use amp: bf16 or off on CPU, fp16 on a GPU")
    precision = Precision(cfg.amp, device)

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
            with precision.autocast():
                logits = model(torch.from_numpy(x[index]).to(device))
            targets = torch.from_numpy(y[index]).to(device)
            loss = F.binary_cross_entropy_with_logits(logits.float(), targets, pos_weight=pos_weight)
            total += precision.step(optimizer, loss)
        return float(total) / steps

    seen: list[np.ndarray] = []  # the start's validation scores, then the latest epoch's

    def validate() -> dict[str, float]:
        scores = video_scores(model, val, cfg.seq_len, cfg.frame_stride, device)
        seen[1:] = [scores]
        return split_metrics(val, scores)

    return TrainingRun(model=model, model_args=args, validate=validate, optimizer=optimizer,
                       train_epoch=train_epoch if trains else None, validate_start=True,
                       beats_start=lambda: clearly_beats(seen[-1], seen[0], val))
