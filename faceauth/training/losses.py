"""Metric-learning losses for embeddings, each a small module whose margin comes from the config.

All take L2-normalised embeddings (B, D) and integer identity labels (B,). Batches are drawn
P identities x K samples (see `faceauth.tasks.fusion.data.identity_batches`) so every anchor has
positives in the batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _pairs(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cosine distances of all pairs, the same-identity mask and the off-diagonal mask."""
    distance = 1.0 - embeddings @ embeddings.T
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return distance, same, off_diagonal


class ContrastiveLoss(nn.Module):
    """Pairwise contrastive loss on cosine distance d = 1 - cos over all pairs in the batch:
    genuine pairs pay d^2, impostor pairs pay max(0, margin - d)^2.

    Why cosine distance: for unit vectors the Euclidean form puts margin 0.5 at cos = 0.875, where
    almost no impostor lies, so the loss never pushes impostors apart. Here margin 0.5 acts on
    impostors with cos > 0.5 and margin 1.0 on every impostor with cos > 0.
    """

    def __init__(self, margin: float = 0.5):
        super().__init__()
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        distance, same, off_diagonal = _pairs(embeddings, labels)
        genuine = distance[same & off_diagonal]
        impostor = distance[~same]
        genuine_loss = genuine.pow(2).mean() if genuine.numel() else distance.new_zeros(())
        impostor_loss = F.relu(self.margin - impostor).pow(2).mean() if impostor.numel() else distance.new_zeros(())
        return genuine_loss + impostor_loss


class TripletLoss(nn.Module):
    """Triplet loss with online batch-hard mining (Hermans et al., 2017): each anchor's farthest
    positive against its closest negative, on cosine distance, hinge at `margin`."""

    def __init__(self, margin: float = 0.2):
        super().__init__()
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        distance, same, off_diagonal = _pairs(embeddings, labels)
        hardest_positive = distance.masked_fill(~(same & off_diagonal), -math.inf).max(dim=1).values
        hardest_negative = distance.masked_fill(same, math.inf).min(dim=1).values
        valid = torch.isfinite(hardest_positive) & torch.isfinite(hardest_negative)
        if not valid.any():
            return distance.new_zeros(()) * embeddings.sum()
        return F.relu(hardest_positive[valid] - hardest_negative[valid] + self.margin).mean()


class ArcFaceLoss(nn.Module):
    """Additive angular margin (ArcFace, Deng et al., 2019): softmax over training identities with
    the target logit s * cos(theta + margin). Its class centres are training-only parameters,
    never part of the exported model."""

    def __init__(self, embedding_dim: int, num_classes: int, margin: float = 0.5, scale: float = 32.0):
        super().__init__()
        self.margin = margin
        self.scale = scale
        self.centres = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.normal_(self.centres, std=0.01)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = embeddings @ F.normalize(self.centres, dim=1).T
        theta = torch.acos(cosine.clamp(-1.0 + 1e-7, 1.0 - 1e-7))
        target = torch.cos(theta.gather(1, labels[:, None]) + self.margin)
        logits = cosine.scatter(1, labels[:, None], target) * self.scale
        return F.cross_entropy(logits, labels)


LOSSES = ("contrastive", "triplet", "arcface")


def build_loss(name: str, margin: float, embedding_dim: int, num_classes: int, scale: float = 32.0) -> nn.Module:
    if name == "contrastive":
        return ContrastiveLoss(margin)
    if name == "triplet":
        return TripletLoss(margin)
    if name == "arcface":
        return ArcFaceLoss(embedding_dim, num_classes, margin, scale)
    raise ValueError(f"unknown loss '{name}'; choose one of {', '.join(LOSSES)}")
