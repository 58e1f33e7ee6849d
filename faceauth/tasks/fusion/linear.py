"""Closed-form linear fusion: the classical answer a learned fusion must start from.

Input: the per-model embeddings, each L2-normalised, concatenated (what score averaging compares).
Candidates, all fitted on the training identities in one pass over the data:

- `score_average`: the identity map — the cosine of the concatenation is the mean of the per-model
  cosines, i.e. score averaging itself;
- `lda(s)`: regularised linear discriminant analysis — whiten the within-class covariance, shrunk
  towards its mean eigenvalue by `s` (the shrinkage), then keep the between-class directions (at most
  one fewer than the identities, capped by `max_dim`), each weighted by sqrt(b / (1 + b)) for its
  between-class variance b in the whitened space (directions that separate identities only weakly
  count less, as in a two-covariance model);
- `whiten(s)`: the same whitening without the projection, every direction kept: the better choice
  when there are few identities for many dimensions.

The shrinkage and the candidate are chosen on the validation identities by the task's objective;
score averaging is always a candidate, so a linear fusion that does not help is not picked. Per-model
weighting follows from the fit: a weak model's directions have small between-class variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

SHRINKAGE_GRID = (0.02, 0.1, 0.3, 0.6, 0.9)


@dataclass(frozen=True)
class LinearFusion:
    """y = (x - mean) @ weight; compare y's with the cosine."""

    kind: str  # score_average | lda | whiten
    shrinkage: float | None
    mean: np.ndarray  # (D,)
    weight: np.ndarray  # (D, k)

    @property
    def name(self) -> str:
        return self.kind if self.shrinkage is None else f"{self.kind}(shrinkage={self.shrinkage:g})"

    @property
    def out_dim(self) -> int:
        return int(self.weight.shape[1])

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.weight


def score_average(dim: int) -> LinearFusion:
    return LinearFusion("score_average", None, np.zeros(dim, np.float32), np.eye(dim, dtype=np.float32))


class ScatterStats:
    """The scatter matrices of one training set, decomposed once; every shrinkage is then cheap."""

    def __init__(self, x: np.ndarray, labels: np.ndarray):
        x = np.asarray(x, dtype=np.float64)
        _, labels = np.unique(labels, return_inverse=True)
        classes, n = int(labels.max()) + 1, len(x)
        self.mean = x.mean(axis=0)
        centred = x - self.mean
        counts = np.bincount(labels, minlength=classes).astype(np.float64)
        means = np.zeros((classes, x.shape[1]))
        np.add.at(means, labels, centred)
        means /= counts[:, None]
        within = centred - means[labels]
        scatter = within.T @ within / max(n - classes, 1)
        eigenvalues, self.eigenvectors = np.linalg.eigh(scatter)
        self.eigenvalues = np.maximum(eigenvalues, 0.0)
        # Class means weighted by their share of samples: their scatter is the between-class covariance.
        self.weighted_means = means * np.sqrt(counts / n)[:, None]
        self.classes = classes

    def whitening(self, shrinkage: float) -> np.ndarray:
        regularised = (1.0 - shrinkage) * self.eigenvalues + shrinkage * self.eigenvalues.mean()
        return self.eigenvectors / np.sqrt(np.maximum(regularised, 1e-12))

    def fit(self, kind: str, shrinkage: float, max_dim: int) -> LinearFusion:
        whitening = self.whitening(shrinkage)
        if kind == "whiten":
            weight = whitening
        else:
            _, singular, directions = np.linalg.svd(self.weighted_means @ whitening, full_matrices=False)
            between = singular ** 2
            keep = min(max_dim, self.classes - 1, int(np.sum(between > 1e-9 * between.max())))
            weight = whitening @ directions[:keep].T * np.sqrt(between[:keep] / (1.0 + between[:keep]))
        return LinearFusion(kind, shrinkage, self.mean.astype(np.float32), weight.astype(np.float32))


def candidates(stats: ScatterStats, max_dim: int) -> list[LinearFusion]:
    dim = stats.mean.size
    found = [score_average(dim)]
    for kind in ("lda", "whiten"):
        found += [stats.fit(kind, s, max_dim) for s in SHRINKAGE_GRID]
    return found


def choose(train_x: np.ndarray, train_labels: np.ndarray, max_dim: int,
           score: Callable[[LinearFusion], tuple[float, ...]]) -> tuple[LinearFusion, dict[str, tuple[float, ...]]]:
    """The candidate with the highest validation `score` (a tuple, compared in order); ties go to the
    earlier candidate, score averaging first. Returns it and every candidate's score."""
    stats = ScatterStats(train_x, train_labels)
    scored = [(fusion, score(fusion)) for fusion in candidates(stats, max_dim)]
    best = scored[0]
    for fusion, value in scored[1:]:
        if value > best[1]:
            best = (fusion, value)
    return best[0], {fusion.name: value for fusion, value in scored}


def refit(kind: str, shrinkage: float | None, x: np.ndarray, labels: np.ndarray, max_dim: int) -> LinearFusion:
    """The same candidate (kind and shrinkage) fitted again on other data (training + validation)."""
    if kind == "score_average":
        return score_average(x.shape[1])
    return ScatterStats(x, labels).fit(kind, shrinkage, max_dim)
