"""How a fusion model is fitted: the closed-form linear part chosen on validation, then the residual
MLP's training epochs (FusionTraining), for a training run and for its refit alike."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from faceauth.training import session as sessions
from faceauth.training.fit import Precision, make_optimizer
from faceauth.training.losses import build_loss
from faceauth.evaluation.metrics import verification_metrics
from faceauth.tasks.base import Evaluation
from faceauth.tasks.fusion import linear
from faceauth.tasks.fusion.config import FusionConfig
from faceauth.tasks.fusion.data import EmbeddingSet, identity_batches, normalized_concat
from faceauth.tasks.fusion.linear import LinearFusion
from faceauth.tasks.fusion.model import augment_embeddings, build_model, pair_scores
from faceauth.evaluation.verdict import clearly_better


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
        "residual_bound": config.residual_bound if config.fusion_kind == "mlp" else 0.0,
    }


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
        self.precision = Precision(cfg.amp, device)
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
        total = torch.zeros((), device=self.device)
        for step in range(steps):
            index = torch.from_numpy(batches[step * session.world_size + session.world_rank]).to(self.device)
            x = augment_embeddings(self.x_train[index], self.args["input_dims"], cfg.augment_strength, generator)
            with self.precision.autocast():
                fused = self.model(x)
            loss = self.loss_fn(fused.float(), self.y_train[index])
            total += self.precision.step(self.optimizer, loss)
        return float(total) / max(steps, 1)
