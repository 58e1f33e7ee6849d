"""The baselines a fusion model is evaluated beside, on the same test pairs (docs/design.md):

score averaging, the mean of the per-model cosine scores (= the cosine of
the concatenated L2-normalised embeddings), and embedding averaging, the mean of the L2-normalised
embeddings, renormalised (only when all models share one embedding size).
"""

from __future__ import annotations

import numpy as np

from faceauth.tasks.fusion.data import EmbeddingSet


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def baseline_embeddings(data: EmbeddingSet) -> dict[str, np.ndarray]:
    parts = [_normalize(p) for p in data.per_model()]
    baselines = {"score_average": _normalize(np.concatenate(parts, axis=1))}
    if len(set(data.model_dims)) == 1:
        baselines["embedding_average"] = _normalize(np.mean(parts, axis=0))
    return baselines
