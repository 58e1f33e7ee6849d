"""The fusion trainer: `train_loop(config)` runs standalone, as a Tune trial or on DDP workers.

    python -m faceauth.train fusion --synthetic --epochs 30
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from faceauth import session as sessions
from faceauth.config import build_config
from faceauth.losses import build_loss
from faceauth.runlog import seed_everything
from faceauth.tasks.fusion.config import FusionConfig
from faceauth.tasks.fusion.data import EmbeddingSet, identity_batches, load_splits, verification_pairs
from faceauth.tasks.fusion.model import FusionMLP, augment_embeddings
from faceauth.training import Objective, fit, make_optimizer, optimizer_step
from faceauth.metrics import verification_metrics

OBJECTIVE = Objective("tar_at_far_1e-3", "max")


def model_args(config: FusionConfig, data: EmbeddingSet) -> dict[str, Any]:
    return {
        "in_dim": int(sum(data.model_dims)),
        "hidden_sizes": list(config.hidden_sizes),
        "out_dim": config.out_dim,
        "dropout": config.dropout,
        "input_dims": list(data.model_dims),
        "model_names": list(data.model_names),
    }


def build_model(args: dict[str, Any]) -> FusionMLP:
    return FusionMLP(args["in_dim"], args["hidden_sizes"], args["out_dim"], args["dropout"], args["input_dims"])


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


def train_loop(config: dict[str, Any]) -> None:
    cfg = build_config(FusionConfig, config, "fusion config")
    session = sessions.current()
    seed_everything(cfg.seed)
    splits = load_splits(cfg)
    train, val = splits["train"], splits["val"]
    device = session.device(cfg.device)
    args = model_args(cfg, train)
    model = session.prepare_model(build_model(args), device)
    loss_fn = build_loss(cfg.loss, cfg.margin, cfg.out_dim, len(train.identities), cfg.arcface_scale).to(device)
    optimizer = make_optimizer([*model.parameters(), *loss_fn.parameters()], cfg)

    x_train = torch.from_numpy(train.embeddings).to(device)
    y_train = torch.from_numpy(train.labels).to(device)
    x_val = torch.from_numpy(val.embeddings)
    first, second, genuine = verification_pairs(val.labels, cfg.max_impostor_pairs, cfg.data_seed)
    use_amp = cfg.amp and device.type == "cuda"

    def train_epoch(epoch: int) -> float:
        # Same batch order on every DDP rank (seeded by epoch), each rank taking its own share.
        rng = np.random.default_rng([cfg.seed, epoch])
        batches = identity_batches(train.labels, cfg.batch_size, cfg.samples_per_identity_per_batch, rng)
        steps = len(batches) // session.world_size
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        generator = torch.Generator(device=device).manual_seed(cfg.seed * 100_003 + epoch)
        total = torch.zeros((), device=device)
        for step in range(steps):
            index = torch.from_numpy(batches[step * session.world_size + session.world_rank]).to(device)
            x = augment_embeddings(x_train[index], args["input_dims"], cfg.augment_strength, generator)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                fused = model(x)
            loss = loss_fn(fused.float(), y_train[index])
            total += optimizer_step(optimizer, loss)
        return float(total) / max(steps, 1)

    def validate() -> dict[str, float]:
        scores = pair_scores(embed(model, x_val, device), first, second)
        return verification_metrics(scores[genuine], scores[~genuine])

    fit(task="fusion", config=cfg, session=session, model=model, model_args=args, optimizer=optimizer,
        train_epoch=train_epoch, validate=validate, objective=OBJECTIVE, extra_modules={"loss": loss_fn})
