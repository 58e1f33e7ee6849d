"""The fusion trainer: `train_loop(config)` runs standalone, as a Tune trial or on DDP workers.

    python -m faceauth.train fusion --synthetic --epochs 30
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from faceauth import session as sessions
from faceauth.checkpoint import make_checkpoint
from faceauth.config import build_config
from faceauth.losses import build_loss
from faceauth.runlog import seed_everything
from faceauth.tasks.fusion.config import FusionConfig
from faceauth.tasks.fusion import linear
from faceauth.tasks.fusion.data import EmbeddingSet, identity_batches, load_splits, merge, verification_pairs
from faceauth.tasks.fusion.linear import LinearFusion
from faceauth.tasks.fusion.model import FusionModel, augment_embeddings
from faceauth.training import Objective, fit, make_optimizer, optimizer_step
from faceauth.metrics import verification_metrics
from faceauth.tasks.base import Evaluation
from faceauth.verdict import clearly_better

OBJECTIVE = Objective("tar_at_far_1e-3", "max")


def model_args(config: FusionConfig, data: EmbeddingSet, fusion: LinearFusion) -> dict[str, Any]:
    return {
        "in_dim": int(sum(data.model_dims)),
        "input_dims": list(data.model_dims),
        "model_names": list(data.model_names),
        "fusion": config.fusion_kind,
        "linear": {"kind": fusion.kind, "shrinkage": fusion.shrinkage},
        "out_dim": fusion.out_dim,
        "hidden_sizes": list(config.hidden_sizes) if config.fusion_kind == "mlp" else [],
        "dropout": config.dropout,
    }


def build_model(args: dict[str, Any]) -> FusionModel:
    return FusionModel(args["input_dims"], args["out_dim"], args["hidden_sizes"], args["dropout"])


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


def normalized_concat(data: EmbeddingSet) -> np.ndarray:
    """What the model's linear layer sees: each model's embedding L2-normalised, concatenated."""
    parts = [p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12) for p in data.per_model()]
    return np.concatenate(parts, axis=1)


# How candidates are ranked on validation: TAR at FAR=1e-3, then 1e-2, then the EER (several
# candidates often tie at the first on a small validation set).
SELECTION = (("tar_at_far_1e-3", "max"), ("tar_at_far_1e-2", "max"), ("eer", "min"))


def _selection_key(metrics: dict[str, float]) -> tuple[float, ...]:
    return tuple(metrics[m] if mode == "max" else -metrics[m] for m, mode in SELECTION)


def clearly_beats(candidate: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray],
                  groups: tuple[np.ndarray, np.ndarray]) -> bool:
    """`candidate` (genuine, impostor) scores beat `reference` on the validation pairs beyond the
    noise of a bootstrap over validation identities, on the first selection metric where they differ."""
    metrics = {"candidate": verification_metrics(*candidate), "reference": verification_metrics(*reference)}
    evaluation = Evaluation(metrics, {"candidate": candidate, "reference": reference}, groups=groups)
    for metric, mode in SELECTION:
        if metrics["candidate"][metric] != metrics["reference"][metric]:
            return clearly_better(evaluation, metric, mode)
    return False


_chosen: dict[tuple, tuple[LinearFusion, dict[str, Any]]] = {}


def choose_linear_fusion(config: FusionConfig, train: EmbeddingSet, val: EmbeddingSet,
                         pairs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[LinearFusion, dict[str, Any]]:
    """The linear part of the model: score averaging for fusion=score_average, else the closed-form
    candidate (linear.py) with the best validation score. Cached per process on the data and
    `out_dim`: every trial of a search on one actor fits it once."""
    if config.fusion_kind == "score_average":
        return linear.score_average(int(sum(train.model_dims))), {}
    x_train, x_val = normalized_concat(train), normalized_concat(val)
    digest = hashlib.blake2b(digest_size=16)
    for array in (x_train, train.labels, x_val, val.labels, *pairs):
        digest.update(np.ascontiguousarray(array).tobytes())
    key = (digest.hexdigest(), config.out_dim)
    if key not in _chosen:
        first, second, genuine = pairs

        def val_scores(fusion: LinearFusion) -> tuple[np.ndarray, np.ndarray]:
            fused = fusion.apply(x_val)
            fused /= np.maximum(np.linalg.norm(fused, axis=1, keepdims=True), 1e-12)
            s = pair_scores(fused, first, second)
            return s[genuine], s[~genuine]

        fusion, scores = linear.choose(x_train, train.labels, config.out_dim,
                                       lambda f: _selection_key(verification_metrics(*val_scores(f))))
        note = "best on validation"
        if fusion.kind != "score_average":
            average = linear.score_average(x_train.shape[1])
            if not clearly_beats(val_scores(fusion), val_scores(average), pair_groups(val.labels, pairs)):
                fusion, note = average, f"{fusion.name} scored higher on validation, but not beyond the noise"
        _chosen.clear()  # one data set at a time: the arrays are large
        _chosen[key] = (fusion, {"chosen": fusion.name, "why": note,
                                 "val_tar_at_far_1e-3": {k: v[0] for k, v in scores.items()}})
    return _chosen[key]


def pair_groups(labels: np.ndarray, pairs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The identities of each genuine and each impostor pair, for a bootstrap over identities."""
    first, second, genuine = pairs
    both = np.stack([labels[first], labels[second]], axis=1)
    return both[genuine], both[~genuine]


class FusionTraining:
    """The pieces one fusion training run needs, for `train_loop` and for `refit` alike."""

    def __init__(self, cfg: FusionConfig, session: sessions.Session, train: EmbeddingSet, fusion: LinearFusion,
                 device: torch.device):
        self.cfg, self.session, self.device = cfg, session, device
        self.args = model_args(cfg, train, fusion)
        model = build_model(self.args)
        model.set_linear(fusion.mean, fusion.weight)
        self.model = session.prepare_model(model, device)
        self.loss_fn = build_loss(cfg.loss, cfg.margin, fusion.out_dim, len(train.identities), cfg.arcface_scale).to(device)
        trainable = [p for p in (*self.model.parameters(), *self.loss_fn.parameters()) if p.requires_grad]
        self.optimizer = make_optimizer(trainable, cfg) if cfg.fusion_kind == "mlp" else None
        self.x_train = torch.from_numpy(train.embeddings).to(device)
        self.y_train = torch.from_numpy(train.labels).to(device)
        self.labels = train.labels

    def train_epoch(self, epoch: int) -> float:
        cfg, session = self.cfg, self.session
        # Same batch order on every DDP rank (seeded by epoch), each rank taking its own share.
        rng = np.random.default_rng([cfg.seed, epoch])
        batches = identity_batches(self.labels, cfg.batch_size, cfg.samples_per_identity_per_batch, rng)
        steps = len(batches) // session.world_size
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        generator = torch.Generator(device=self.device).manual_seed(cfg.seed * 100_003 + epoch)
        use_amp = cfg.amp and self.device.type == "cuda"
        total = torch.zeros((), device=self.device)
        for step in range(steps):
            index = torch.from_numpy(batches[step * session.world_size + session.world_rank]).to(self.device)
            x = augment_embeddings(self.x_train[index], self.args["input_dims"], cfg.augment_strength, generator)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_amp):
                fused = self.model(x)
            loss = self.loss_fn(fused.float(), self.y_train[index])
            total += optimizer_step(self.optimizer, loss)
        return float(total) / max(steps, 1)


def train_loop(config: dict[str, Any]) -> None:
    cfg = build_config(FusionConfig, config, "fusion config")
    session = sessions.current()
    seed_everything(cfg.seed)
    splits = load_splits(cfg)
    train, val = splits["train"], splits["val"]
    first, second, genuine = verification_pairs(val.labels, cfg.max_impostor_pairs, cfg.data_seed)
    fusion, selection = choose_linear_fusion(cfg, train, val, (first, second, genuine))
    run = FusionTraining(cfg, session, train, fusion, session.device(cfg.device))
    run.args["linear_selection"] = selection
    x_val = torch.from_numpy(val.embeddings)
    groups = pair_groups(val.labels, (first, second, genuine))
    seen: list[tuple[np.ndarray, np.ndarray]] = []  # the start's validation scores, then the latest epoch's

    def validate() -> dict[str, float]:
        scores = pair_scores(embed(run.model, x_val, run.device), first, second)
        seen[1:] = [(scores[genuine], scores[~genuine])]
        return verification_metrics(scores[genuine], scores[~genuine])

    # The residual MLP replaces the linear fusion it starts from only where it beats it on the
    # validation identities beyond the noise (small validation sets make lucky epochs).
    fit(task="fusion", config=cfg, session=session, model=run.model, model_args=run.args, optimizer=run.optimizer,
        train_epoch=run.train_epoch if cfg.fusion_kind == "mlp" else None, validate=validate, objective=OBJECTIVE,
        extra_modules={"loss": run.loss_fn}, validate_start=True, beats_start=lambda: clearly_beats(seen[-1], seen[0], groups))


def refit(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The selected model fitted again on the training and validation identities together: the same
    linear candidate (kind, shrinkage) and, for an MLP kept at epoch E > 0, E epochs of training with
    the same settings and seed. There is nothing left to validate on: the figures that chose these
    settings stay the selection's (`checkpoint["metrics"]`, on the validation identities)."""
    cfg = build_config(FusionConfig, checkpoint["config"], "checkpoint config")
    seed_everything(cfg.seed)
    splits = load_splits(cfg)
    data = merge(splits["train"], splits["val"])
    chosen = checkpoint["model_args"]["linear"]
    fusion = linear.refit(chosen["kind"], chosen["shrinkage"], normalized_concat(data), data.labels, cfg.out_dim)
    epochs = int(checkpoint["epoch"]) if cfg.fusion_kind == "mlp" else 0
    run = FusionTraining(cfg, sessions.LocalSession(), data, fusion, torch.device("cpu"))
    run.model.train()
    for epoch in range(1, epochs + 1):
        run.train_epoch(epoch)
    run.model.eval()
    run.args["linear_selection"] = checkpoint["model_args"].get("linear_selection", {})
    run.args["refit"] = {"identities": int(len(data.identities)), "samples": int(len(data)), "epochs": epochs,
                         "from": "train + val identities"}
    refitted = make_checkpoint("fusion", run.args, run.model, config=checkpoint["config"], epoch=checkpoint["epoch"],
                               best=checkpoint["best"], metrics=checkpoint["metrics"])
    return refitted
