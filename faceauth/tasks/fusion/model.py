"""FusionMLP: several face-recognition embeddings in, one L2-normalised embedding out."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / ||x||, written with ops every ONNX runtime has; a zero vector stays zero, never NaN."""
    return x / torch.sqrt(torch.clamp((x * x).sum(dim=-1, keepdim=True), min=eps))


class FusionMLP(nn.Module):
    """Input: the per-model embeddings concatenated, (B, in_dim) with in_dim = sum(input_dims).
    Each model's part is L2-normalised; their concatenation goes through a linear skip path plus an
    MLP (hidden_sizes, ReLU, dropout) whose last layer starts at zero, and the sum is L2-normalised.

    Why the skip path: a fusion must first reproduce score averaging (the cosine of the concatenated
    normalised embeddings) and then only add to it. When out_dim == in_dim the skip starts as the
    identity, exactly score averaging; otherwise as a random orthogonal projection, which training
    then shapes (a projection of 1536 to 512 dims that loses nothing is learnable, not guessable).
    """

    def __init__(self, in_dim: int, hidden_sizes: Sequence[int], out_dim: int, dropout: float = 0.0,
                 input_dims: Sequence[int] | None = None):
        super().__init__()
        self.input_dims = list(input_dims) if input_dims else [in_dim]
        if sum(self.input_dims) != in_dim:
            raise ValueError(f"input_dims {self.input_dims} do not add up to in_dim {in_dim}")
        self.skip = nn.Linear(in_dim, out_dim, bias=False)
        if out_dim == in_dim:
            nn.init.eye_(self.skip.weight)
        else:
            nn.init.orthogonal_(self.skip.weight)
        layers: list[nn.Module] = []
        width = in_dim
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        last = nn.Linear(width, out_dim)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(*layers, last)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        parts = torch.split(embeddings, self.input_dims, dim=1)
        x = torch.cat([l2_normalize(p) for p in parts], dim=1)
        return l2_normalize(self.skip(x) + self.mlp(x))


def augment_embeddings(x: torch.Tensor, input_dims: Sequence[int], strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Embedding augmentation scaled by one `strength` in [0, 1] (0: none):
    Gaussian noise (std 0.5 * strength of a unit embedding's per-dimension scale), a whole model's
    embedding dropped (probability 0.3 * strength per model, never all of them) and feature dropout
    (probability 0.2 * strength)."""
    if strength <= 0:
        return x
    parts = []
    for p in torch.split(x, list(input_dims), dim=1):
        p = l2_normalize(p)
        noise = torch.randn(p.shape, generator=generator, device=p.device) * (0.5 * strength / p.shape[1] ** 0.5)
        parts.append(p + noise)
    x = torch.cat(parts, dim=1)
    batch, models = x.shape[0], len(input_dims)
    keep_model = torch.rand((batch, models), generator=generator, device=x.device) >= 0.3 * strength
    none_kept = torch.nonzero(keep_model.sum(dim=1) == 0).flatten()
    rescue = torch.randint(models, (none_kept.numel(),), generator=generator, device=x.device)
    keep_model[none_kept, rescue] = True  # a sample keeps at least one model
    x = x * torch.repeat_interleave(keep_model.float(), torch.tensor(input_dims, device=x.device), dim=1)
    keep_feature = torch.rand(x.shape, generator=generator, device=x.device) >= 0.2 * strength
    return x * keep_feature
