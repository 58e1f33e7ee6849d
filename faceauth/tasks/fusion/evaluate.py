"""Evaluate a fusion checkpoint on test identities, beside the two averaging baselines on the same pairs.

Baselines (DESIGN.md): score averaging, the mean of the per-model cosine scores (= the cosine of
the concatenated L2-normalised embeddings), and embedding averaging, the mean of the L2-normalised
embeddings, renormalised (only when all models share one embedding size).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from faceauth.config import build_config
from faceauth.metrics import MIN_IMPOSTORS_BEYOND, enough_impostors, verification_metrics
from faceauth.tasks.base import Evaluation
from faceauth.tasks.fusion.config import FusionConfig
from faceauth.tasks.fusion.data import EmbeddingSet, load_splits, load_test_data, verification_pairs
from faceauth.tasks.fusion.train import build_model, embed, pair_scores
from faceauth.errors import FaceauthError


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def baseline_embeddings(data: EmbeddingSet) -> dict[str, np.ndarray]:
    parts = [_normalize(p) for p in data.per_model()]
    baselines = {"score_average": _normalize(np.concatenate(parts, axis=1))}
    if len(set(data.model_dims)) == 1:
        baselines["embedding_average"] = _normalize(np.mean(parts, axis=0))
    return baselines


def evaluate_checkpoint(checkpoint: dict[str, Any], test_data: str | None = None) -> Evaluation:
    """`test_data`: a Parquet file of embeddings whose identities are all test identities; without
    it, the config's test_data, else the test split of the data the checkpoint was trained on."""
    config = build_config(FusionConfig, checkpoint["config"], "checkpoint config")
    if test_data is None:
        data = load_splits(config)["test"]
    else:  # the columns the model was trained on, in its order
        data = load_test_data(replace(config, embedding_columns=tuple(checkpoint["model_args"]["model_names"])), test_data)
    expected = tuple(checkpoint["model_args"]["input_dims"])
    if data.model_dims != expected:
        raise FaceauthError(f"{data.source}: embedding sizes {data.model_dims} do not match the model's {expected}")
    first, second, genuine = verification_pairs(data.labels, config.max_impostor_pairs, config.data_seed)
    model = build_model(checkpoint["model_args"])
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    import torch

    systems = {"fused": embed(model, data.embeddings, torch.device("cpu")).numpy(), **baseline_embeddings(data)}
    metrics, scores = {}, {}
    for name, embeddings in systems.items():
        s = pair_scores(embeddings, first, second)
        scores[name] = (s[genuine], s[~genuine])
        metrics[name] = verification_metrics(*scores[name], low_far=True)
    pair_identities = np.stack([data.labels[first], data.labels[second]], axis=1)
    details = {
        "data": data.source,
        "identities": int(len(data.identities)),
        "samples": int(len(data)),
        "genuine_pairs": int(genuine.sum()),
        "impostor_pairs": int((~genuine).sum()),
        "impostor_sampling": f"uniform random sample of at most {config.max_impostor_pairs} impostor pairs, seed {config.data_seed}",
        "bootstrap_unit": "identities",
        "bootstrap_units": int(len(data.identities)),
        "model_fitted_on": (f"training + validation identities ({checkpoint['model_args']['refit']['identities']})"
                            if "refit" in checkpoint["model_args"] else "training identities"),
    }
    if not enough_impostors(int((~genuine).sum()), 1e-4):
        details["tar_at_far_1e-4"] = (f"not enough impostor pairs: {int((~genuine).sum())}, TAR at FAR=1e-4 needs "
                                      f"{int(MIN_IMPOSTORS_BEYOND / 1e-4)} (10 beyond the threshold)")
    return Evaluation(metrics, scores, details, groups=(pair_identities[genuine], pair_identities[~genuine]))
