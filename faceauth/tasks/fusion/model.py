"""The fusion model: several face-recognition embeddings in, one L2-normalised embedding out."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """x / ||x||, written with ops every ONNX runtime has; a zero vector stays zero, never NaN."""
    return x / torch.sqrt(torch.clamp((x * x).sum(dim=-1, keepdim=True), min=eps))


class FusionModel(nn.Module):
    """Input: the per-model embeddings concatenated, (B, in_dim) with in_dim = sum(input_dims).

    Each model's part is L2-normalised and the concatenation goes through a fixed linear fusion
    (`linear`, fitted in closed form: score averaging, LDA or whitening, see linear.py), whose output is
    L2-normalised. With `hidden_sizes`, an MLP of the normalised concatenation (ReLU, dropout) is added
    to it as a residual whose last layer starts at zero: the model starts as the linear fusion exactly
    and training can only add to it. The sum is L2-normalised: compare outputs with the cosine.

    `residual_bound` b > 0 caps the residual's length against the unit linear embedding: the MLP's
    output r enters as r / (1 + |r| / b), shorter than b whatever the weights (0: unbounded). Unbounded,
    the residual outgrew the linear part within an epoch or two (|r| 1.4 to 500 against 1) and the
    validation TAR fell from the start's to near zero while the training loss kept falling: the pair
    and class losses are cheapest to lower by pulling every embedding towards one shared direction,
    which squeezes the linear part's ranking into a narrow cone (benchmarks/residual_epochs.py).

    The linear layer is not trained (requires_grad off): the closed form is the best linear fusion
    the training identities support, and gradient steps on a few hundred identities would only
    overfit it. Its weights live in the state dict, so the model exports to one ONNX file.
    """

    def __init__(self, input_dims: Sequence[int], linear_dim: int, hidden_sizes: Sequence[int] = (), dropout: float = 0.0,
                 residual_bound: float = 0.0):
        super().__init__()
        self.input_dims = list(input_dims)
        self.residual_bound = float(residual_bound)
        in_dim = sum(self.input_dims)
        self.linear = nn.Linear(in_dim, linear_dim)
        self.linear.requires_grad_(False)
        self.mlp: nn.Sequential | None = None
        if hidden_sizes:
            layers: list[nn.Module] = []
            width = in_dim
            for hidden in hidden_sizes:
                layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
                width = hidden
            last = nn.Linear(width, linear_dim)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.mlp = nn.Sequential(*layers, last)

    @torch.no_grad()
    def set_linear(self, mean: np.ndarray, weight: np.ndarray) -> None:
        """y = (x - mean) @ weight, as a Linear layer: W = weight^T, b = -mean @ weight."""
        weight_t = torch.as_tensor(weight, dtype=torch.float32)
        self.linear.weight.copy_(weight_t.T)
        self.linear.bias.copy_(-torch.as_tensor(mean, dtype=torch.float32) @ weight_t)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        parts = torch.split(embeddings, self.input_dims, dim=1)
        x = torch.cat([l2_normalize(p) for p in parts], dim=1)
        fused = l2_normalize(self.linear(x))
        if self.mlp is not None:
            fused = l2_normalize(fused + self.residual(x))
        return fused

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """What the MLP adds to the unit linear embedding, for the normalised concatenation `x`."""
        r = self.mlp(x)
        if self.residual_bound > 0:
            # sqrt of a clamped sum, not .norm(): finite gradients at r = 0, where the residual starts.
            length = torch.sqrt(torch.clamp((r * r).sum(dim=-1, keepdim=True), min=1e-24))
            r = r / (1.0 + length / self.residual_bound)
        return r


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


def build_model(args: dict[str, Any]) -> FusionModel:
    """The model from a checkpoint's model_args (weights not loaded)."""
    # Checkpoints written before residual_bound existed hold an unbounded residual.
    return FusionModel(args["input_dims"], args["out_dim"], args["hidden_sizes"], args["dropout"],
                       args.get("residual_bound", 0.0))


@torch.no_grad()
def embed(model: torch.nn.Module, embeddings: np.ndarray | torch.Tensor, device: torch.device, batch: int = 8192) -> torch.Tensor:
    x = torch.as_tensor(embeddings)
    return torch.cat([model(x[i:i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)])


def pair_scores(embeddings: torch.Tensor | np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Cosine scores of the pairs (embeddings are unit vectors). Up to 8192 samples, one similarity
    matrix (cheap) beats gathering 100k pairs of rows; beyond, gather in chunks to bound memory."""
    e = torch.as_tensor(embeddings, dtype=torch.float32)
    if len(e) <= 8192:
        return (e @ e.T)[torch.as_tensor(first), torch.as_tensor(second)].numpy()
    chunks = [(e[first[i:i + 65536]] * e[second[i:i + 65536]]).sum(dim=1) for i in range(0, len(first), 65536)]
    return torch.cat(chunks).numpy()
