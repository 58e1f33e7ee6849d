"""The closed-form part of the temporal model: a logistic regression on each window's statistics.

Fitted on the training windows (the windows a video is scored by, unaugmented) by Newton's method in
float64 (baselines.fit_logistic: class-balanced, the same data give the same bits), one fit per L2
strength of `L2_GRID`; the strength is chosen on the validation videos by their EER, ties broken by
the higher ROC AUC and then by the stronger penalty (the simpler model when the data cannot tell).
The head reads mean, spread and mean absolute change per feature (model.window_statistics): three
times as many inputs as the clip-averaged baseline, so the grid reaches further into strong penalties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from faceauth.evaluation.metrics import equal_error_rate, roc_auc, roc_curve
from faceauth.tasks.temporal.baselines import fit_logistic
from faceauth.tasks.temporal.data import VideoSet, eval_windows
from faceauth.tasks.temporal.model import TemporalModel, window_statistics

L2_GRID = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class ClipHead:
    """logit = standardised window statistics @ weight + bias."""

    weight: np.ndarray
    bias: float
    l2: float


def _windows(model: TemporalModel, videos: VideoSet, seq_len: int, stride: int) -> tuple[torch.Tensor, np.ndarray]:
    windows, owners = eval_windows(videos, seq_len, stride)
    return torch.from_numpy(windows), owners


def video_probabilities(logits: np.ndarray, owners: np.ndarray, videos: int) -> np.ndarray:
    """Each video's score: the mean attack probability of its windows (as train.video_scores)."""
    probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
    return np.bincount(owners, weights=probabilities, minlength=videos) / np.bincount(owners, minlength=videos)


def fit_clip_head(model: TemporalModel, train: VideoSet, val: VideoSet, seq_len: int, stride: int,
                  l2_grid: tuple[float, ...] = L2_GRID) -> dict[str, Any]:
    """Set the model's statistic scaling and clip head (features scaling must be set already);
    returns what was chosen and why, for the checkpoint's model_args."""
    train_windows, train_owners = _windows(model, train, seq_len, stride)
    raw = window_statistics((train_windows - model.feature_mean) / model.feature_std, model.groups).double().numpy()
    std = raw.std(axis=0)
    model.set_statistic_scaling(raw.mean(axis=0), np.where(std > 1e-6, std, 1.0))
    z_train = model.statistics(train_windows).double().numpy()
    y_train = train.is_attack[train_owners].astype(np.float64)
    val_windows, val_owners = _windows(model, val, seq_len, stride)
    z_val = model.statistics(val_windows).double().numpy()

    best, table = None, {}
    for l2 in l2_grid:
        fitted = fit_logistic(z_train, y_train, l2)
        weight = fitted.weights[:-1] / fitted.std  # fold fit_logistic's own standardisation into the head
        head = ClipHead(weight, float(fitted.weights[-1] - fitted.mean @ weight), l2)
        scores = video_probabilities(z_val @ head.weight + head.bias, val_owners, len(val))
        curve = roc_curve(scores[val.is_attack], scores[~val.is_attack])
        eer, auc = equal_error_rate(curve)[0], roc_auc(curve)
        table[f"{l2:g}"] = {"val_eer": round(eer, 4), "val_roc_auc": round(auc, 4)}
        key = (round(eer, 9), -round(auc, 9), -l2)
        if best is None or key < best[0]:
            best = (key, head)
    head = best[1]
    model.set_clip_head(head.weight, head.bias)
    return {"statistics": "mean" if model.groups == 1 else "mean, spread, mean absolute change",
            "l2": head.l2, "by_l2": table}
