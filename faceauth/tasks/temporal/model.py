"""TemporalLSTM: a window of per-frame feature vectors in, one attack logit out.

Input: (batch, seq, feature_dim) raw frame features, any seq >= 1; the model standardises them with
the training split's statistics (buffers, so they travel in the checkpoint and the ONNX file).
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
                 dropout: float = 0.0):
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        self.lstm = nn.LSTM(feature_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), 1)

    def set_feature_scaling(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.feature_mean.copy_(torch.as_tensor(mean))
        self.feature_std.copy_(torch.as_tensor(std))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.feature_mean) / self.feature_std
        out, _ = self.lstm(x)
        return self.head(self.dropout(out.mean(dim=1)))[:, 0]
