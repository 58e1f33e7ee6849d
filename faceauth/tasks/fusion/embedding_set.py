"""Per-model embeddings of N images, checked and concatenated: what the Parquet reader (data.py) and
the image embedder (image_embeddings.py) both produce, kept apart from both so neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceauth.io.errors import FaceauthError


@dataclass(frozen=True)
class EmbeddingSet:
    """Per-model embeddings of N images, concatenated: (N, sum(model_dims)) float32."""

    embeddings: np.ndarray
    labels: np.ndarray  # (N,) int64 identity index into `identities`
    identities: np.ndarray  # identity names
    model_names: tuple[str, ...]
    model_dims: tuple[int, ...]
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, identity_indices: np.ndarray) -> "EmbeddingSet":
        """The rows of the given identities, labels renumbered 0..k-1."""
        keep = np.isin(self.labels, identity_indices)
        old_labels = self.labels[keep]
        new_ids, labels = np.unique(old_labels, return_inverse=True)
        return EmbeddingSet(self.embeddings[keep], labels.astype(np.int64), self.identities[new_ids],
                            self.model_names, self.model_dims, self.source)

    def per_model(self) -> list[np.ndarray]:
        return np.split(self.embeddings, np.cumsum(self.model_dims)[:-1], axis=1)


def embedding_set(identities: np.ndarray, arrays: dict[str, np.ndarray], source: str,
                  identity_column: str = "identity", row_names: list[str] | None = None) -> EmbeddingSet:
    """Check per-model embeddings of the same N images (finite, non-zero, two or more images per
    identity) and concatenate them. Shared by the Parquet reader and the image embedder, so both
    refuse the same data with the same messages; `row_names` (image paths) name the bad rows."""
    def row(index: int) -> str:
        return f"row {index}" + (f" ({row_names[index]})" if row_names is not None else "")

    for column, array in arrays.items():
        bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
        if bad.size:
            raise FaceauthError(f"{source}: column '{column}' has NaN or inf in {bad.size} row(s), first at {row(bad[0])}")
        zero = np.flatnonzero(np.linalg.norm(array, axis=1) == 0)
        if zero.size:
            raise FaceauthError(f"{source}: column '{column}' has all-zero embeddings in {zero.size} row(s), first at {row(zero[0])}")
    names, labels, counts = np.unique(identities, return_inverse=True, return_counts=True)
    singles = names[counts < 2]
    if singles.size:
        raise FaceauthError(
            f"{source}: {singles.size} identit{'y has' if singles.size == 1 else 'ies have'} only one sample in column "
            f"'{identity_column}' (e.g. {', '.join(map(str, singles[:5]))}); each identity needs two or more for genuine pairs"
        )
    parts = list(arrays.values())
    return EmbeddingSet(np.concatenate(parts, axis=1), labels.astype(np.int64), names,
                        tuple(arrays), tuple(p.shape[1] for p in parts), source)
