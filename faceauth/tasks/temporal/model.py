"""TemporalLSTM: a window of per-frame feature vectors in, one attack logit out.

Input: (batch, seq, feature_dim) raw frame features, any seq >= 1; the model standardises them with
the training split's statistics (buffers, so they travel in the checkpoint and the ONNX file).
With `summary`, the head also reads the window's order-blind statistics (each standardised feature's
mean, standard deviation and mean absolute frame-to-frame change over time) beside the LSTM's pooled output: the model starts with what a
time-blind classifier sees, so the LSTM has only to add what the order of the frames tells.
Output: (batch,) attack logits; sigmoid(logit) is the attack probability (faceauth.metrics
convention: higher = attack). A video's score is the mean probability of its windows.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TemporalLSTM(nn.Module):
    """torch.nn.LSTM (batch_first; inter-layer dropout when num_layers > 1), its outputs averaged over
    time (every step counts, in both directions alike), dropout, and one linear unit.

    A plain nn.LSTM, not a hand-written cell loop: it exports to ONNX as the LSTM operator, whose
    time axis stays dynamic (faceauth.onnx_export clears a stale torch dispatch cache that otherwise
    froze it on a second export in one process, bidirectional or not)."""

    def __init__(self, feature_dim: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, summary: bool = False):
        super().__init__()
        self.summary = summary
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        # The summary's own scaling (training windows' statistics), so that its three groups start on
        # an equal footing under one weight decay, as a standardised logistic regression's inputs do.
        self.register_buffer("summary_mean", torch.zeros(3 * feature_dim if summary else 0))
        self.register_buffer("summary_std", torch.ones(3 * feature_dim if summary else 0))
        self.lstm = nn.LSTM(feature_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1) + (3 * feature_dim if summary else 0), 1)

    def set_feature_scaling(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.feature_mean.copy_(torch.as_tensor(mean))
        self.feature_std.copy_(torch.as_tensor(std))

    def set_summary_scaling(self, windows: torch.Tensor) -> None:
        """Standardise the summary with its statistics over these (training) windows."""
        with torch.no_grad():
            stats = self.window_summary((windows - self.feature_mean) / self.feature_std)
            self.summary_mean.copy_(stats.mean(dim=0))
            self.summary_std.copy_(stats.std(dim=0).clamp_min(1e-6))

    @staticmethod
    def window_summary(x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1)
        spread = (x - mean[:, None]).square().mean(dim=1).add(1e-6).sqrt()
        # A window of one frame has no change: the mean of an empty difference would be NaN.
        change = (x[:, 1:] - x[:, :-1]).abs().sum(dim=1) / max(x.shape[1] - 1, 1)
        return torch.cat([mean, spread, change], dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.feature_mean) / self.feature_std
        out, _ = self.lstm(x)
        pooled = out.mean(dim=1)
        if self.summary:
            # Clamped: a feature nearly constant in training (a tiny summary_std) must not let one odd
            # window swing the logit by thousands (nor lose float32 precision doing so).
            summary = ((self.window_summary(x) - self.summary_mean) / self.summary_std).clamp(-8.0, 8.0)
            pooled = torch.cat([pooled, summary], dim=1)
        return self.head(self.dropout(pooled))[:, 0]
