"""TemporalModel: a window of per-frame feature vectors in, one attack logit out.

Input: (batch, seq, feature_dim) raw frame features, any seq >= 1; the model standardises them with
the training split's statistics (buffers, so they travel in the checkpoint and the ONNX file).
Output: (batch,) attack logits; sigmoid(logit) is the attack probability (faceauth.evaluation.metrics
convention: higher = attack). A video's score is the mean probability of its windows.

The logit is a sum of two parts, by `kind` (KINDS):

- a fixed linear head on the window's statistics, fitted in closed form (clip_head.py) and never
  trained by gradient: `time_blind` reads each feature's mean over the window (what a clip-averaged
  logistic regression sees); `clip_stats` and `lstm` also read each feature's spread and its mean
  absolute frame-to-frame change (a blink, a moving mouth, a flickering screen);
- for `lstm`, a residual: torch.nn.LSTM over the frames, mean-pooled over time, into one linear unit
  that starts at zero. The model starts as the closed-form head exactly and training can only add
  to it; the trainer keeps the residual only where it beats the start on validation beyond the noise.
  With `residual_bound` b > 0 the residual r enters as r / (1 + |r| / b): it moves a window's logit
  by less than b, whatever the weights (0: unbounded). Unbounded, the LSTM memorised the hundred
  training clips (training loss to 0.01) and its logits swamped the head's: the validation EER rose
  from the start's with the epochs on most regimes (benchmarks/residual_epochs.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from faceauth.tasks.temporal.data import VideoSet, eval_windows

KINDS = ("time_blind", "clip_stats", "lstm")
# A standardised statistic beyond this many training standard deviations is clipped: one odd window
# (a feature nearly constant in training) must not swing the logit by thousands.
STAT_CLIP = 8.0


def stat_groups(kind: str) -> int:
    """How many statistics per feature the head reads: the mean alone, or mean, spread and change."""
    return 1 if kind == "time_blind" else 3


def window_statistics(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(batch, seq, D) -> (batch, groups * D): mean over time [, spread, mean absolute change]."""
    mean = x.mean(dim=1)
    if groups == 1:
        return mean
    spread = (x - mean[:, None]).square().mean(dim=1).add(1e-6).sqrt()
    # A window of one frame has no change: the mean of an empty difference would be NaN.
    change = (x[:, 1:] - x[:, :-1]).abs().sum(dim=1) / max(x.shape[1] - 1, 1)
    return torch.cat([mean, spread, change], dim=1)


class TemporalModel(nn.Module):
    """The closed-form head (`stat_mean`, `stat_std`, `clip_head`: frozen) plus, for kind `lstm`, an
    LSTM residual whose last layer starts at zero.

    A plain nn.LSTM, not a hand-written cell loop: it exports to ONNX as the LSTM operator, whose
    time axis stays dynamic (faceauth.evaluation.onnx_export clears a stale torch dispatch cache that otherwise
    froze it on a second export in one process, bidirectional or not)."""

    def __init__(self, feature_dim: int, kind: str = "lstm", hidden_size: int = 16, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, residual_bound: float = 0.0):
        super().__init__()
        self.residual_bound = float(residual_bound)
        if kind not in KINDS:
            raise ValueError(f"temporal model kind must be one of {', '.join(KINDS)}, not '{kind}'")
        self.kind = kind
        self.groups = stat_groups(kind)
        stats = self.groups * feature_dim
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        self.register_buffer("stat_mean", torch.zeros(stats))
        self.register_buffer("stat_std", torch.ones(stats))
        self.clip_head = nn.Linear(stats, 1)
        nn.init.zeros_(self.clip_head.weight)
        nn.init.zeros_(self.clip_head.bias)
        self.clip_head.requires_grad_(False)
        self.lstm: nn.LSTM | None = None
        if kind == "lstm":
            self.lstm = nn.LSTM(feature_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                                dropout=dropout if num_layers > 1 else 0.0)
            self.dropout = nn.Dropout(dropout)
            self.residual = nn.Linear(hidden_size * (2 if bidirectional else 1), 1)
            nn.init.zeros_(self.residual.weight)
            nn.init.zeros_(self.residual.bias)

    def set_feature_scaling(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.feature_mean.copy_(torch.as_tensor(mean))
        self.feature_std.copy_(torch.as_tensor(std))

    @torch.no_grad()
    def statistics(self, features: torch.Tensor) -> torch.Tensor:
        """What the clip head reads, standardised and clipped: (batch, groups * D), for fitting it."""
        return self._statistics((features - self.feature_mean) / self.feature_std)

    def _statistics(self, x: torch.Tensor) -> torch.Tensor:
        stats = window_statistics(x, self.groups)
        return ((stats - self.stat_mean) / self.stat_std).clamp(-STAT_CLIP, STAT_CLIP)

    @torch.no_grad()
    def set_statistic_scaling(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.stat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.stat_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    @torch.no_grad()
    def set_clip_head(self, weight: np.ndarray, bias: float) -> None:
        """logit = standardised statistics @ weight + bias (clip_head.ClipHead)."""
        self.clip_head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32)[None])
        self.clip_head.bias.fill_(float(bias))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.feature_mean) / self.feature_std
        logit = self.clip_head(self._statistics(x))[:, 0]
        if self.lstm is not None:
            out, _ = self.lstm(x)
            residual = self.residual(self.dropout(out.mean(dim=1)))[:, 0]
            if self.residual_bound > 0:
                residual = residual / (1.0 + residual.abs() / self.residual_bound)
            logit = logit + residual
        return logit


def build_model(args: dict[str, Any]) -> TemporalModel:
    # Checkpoints written before residual_bound existed hold an unbounded residual.
    return TemporalModel(args["feature_dim"], args["kind"], args["hidden_size"], args["num_layers"], args["bidirectional"],
                         args["dropout"], args.get("residual_bound", 0.0))


@torch.no_grad()
def video_scores(model: torch.nn.Module, videos: VideoSet, seq_len: int, stride: int, device: torch.device,
                 batch: int = 1024) -> np.ndarray:
    """Each video's attack score: the mean attack probability of its half-overlapping windows."""
    windows, owners = eval_windows(videos, seq_len, stride)
    x = torch.from_numpy(windows)
    probabilities = torch.cat([torch.sigmoid(model(x[i:i + batch].to(device)).float()).cpu()
                               for i in range(0, len(x), batch)]).numpy().astype(np.float64)
    return np.bincount(owners, weights=probabilities, minlength=len(videos)) / np.bincount(owners, minlength=len(videos))
