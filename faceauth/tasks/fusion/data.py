"""Embeddings for the fusion trainer: synthetic ones, a Parquet file of real ones, or a folder of
face images embedded by ONNX models (image_embeddings.py); identity-disjoint splits, P x K batches
and verification pairs.

Parquet layout (one row per image): an identity column (string or int) and one fixed-size float32
list column per face-recognition model, e.g. `identity, arcface, facenet, mobilefacenet`.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np

from faceauth.io.errors import FaceauthError
from faceauth.tasks.fusion.embedding_set import EmbeddingSet, embedding_set



DEFAULT_MODEL_NAMES = ("arcface", "facenet", "mobilefacenet")  # the default synthetic regime's columns


def synthetic_embeddings(num_identities: int, samples_per_id: int, embedding_dim: int = 512, seed: int = 0,
                         model_names: tuple[str, ...] = DEFAULT_MODEL_NAMES,
                         regime: str = "default") -> EmbeddingSet:
    """Generated embeddings (synthetic.py): the "default" regime at `embedding_dim`, or another regime."""
    from faceauth.tasks.fusion import synthetic

    spec = synthetic.regime(regime)
    if regime == "default":
        spec = synthetic.with_dim(spec, embedding_dim)
        model_names = model_names or DEFAULT_MODEL_NAMES
    return synthetic.generate(spec, spec.num_identities or num_identities, spec.samples_per_id or samples_per_id,
                              seed, model_names)


def read_embeddings_parquet(path: str | Path, identity_column: str, embedding_columns: tuple[str, ...]) -> EmbeddingSet:
    """Read and check a Parquet file of embeddings; every problem names the file and the column."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():  # e.g. a liveness folder, or face images given to a model trained on a Parquet file
        raise FaceauthError(f"{path} is a folder, not a Parquet file of embeddings: this model reads embeddings (a folder of "
                            "face images is test data only for a model trained with --data_dir)")
    if not path.is_file():
        raise FaceauthError(f"embeddings file {path} does not exist; pass a Parquet file to --embeddings")
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for a non-Parquet file
        raise FaceauthError(f"{path} is not a readable Parquet file: {err}") from None
    if not embedding_columns:  # every fixed-size list column, in the file's order
        import pyarrow as pa

        embedding_columns = tuple(f.name for f in table.schema if f.name != identity_column
                                  and (pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type)
                                       or pa.types.is_large_list(f.type)))
        if not embedding_columns:
            raise FaceauthError(f"{path}: no embedding columns (list columns) besides '{identity_column}'; the file has "
                                f"{', '.join(table.column_names)}. Set embedding_columns in the config")
    missing = [c for c in (identity_column, *embedding_columns) if c not in table.column_names]
    if missing:
        raise FaceauthError(
            f"{path}: missing column(s) {', '.join(missing)}; the file has {', '.join(table.column_names)}. "
            f"Set identity_column / embedding_columns in the config to the names your file uses"
        )
    if table.num_rows == 0:
        raise FaceauthError(f"{path}: the file has no rows")
    import pyarrow as pa

    identity_type = table.schema.field(identity_column).type
    if not (pa.types.is_string(identity_type) or pa.types.is_large_string(identity_type) or pa.types.is_integer(identity_type)):
        raise FaceauthError(f"{path}: column '{identity_column}' must hold one identity (a string or an integer) per row, "
                            f"not {identity_type}")
    identities = np.asarray(table.column(identity_column).to_pylist())
    if any(v is None for v in identities):
        raise FaceauthError(f"{path}: column '{identity_column}' has empty (null) identities")
    arrays = {}
    for column in embedding_columns:
        kind = table.schema.field(column).type
        if not (pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind) or pa.types.is_large_list(kind)) \
                or not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
            raise FaceauthError(f"{path}: column '{column}' must hold one list of floats per row, not {kind}")
        values = table.column(column).to_pylist()
        lengths = {len(v) if v is not None else 0 for v in values}
        if len(lengths) != 1 or 0 in lengths:
            raise FaceauthError(
                f"{path}: column '{column}' must hold one fixed-size float list per row; found lengths {sorted(lengths)[:5]}"
            )
        arrays[column] = np.asarray([[np.nan if x is None else x for x in v] for v in values], dtype=np.float32)
    row_names = table.column("path").to_pylist() if "path" in table.column_names else None
    return embedding_set(identities, arrays, str(path), identity_column, row_names)


def split_by_identity(data: EmbeddingSet, val_fraction: float, test_fraction: float, seed: int) -> dict[str, EmbeddingSet]:
    """Identity-disjoint train / val / test splits, seeded: no person appears in two splits.
    test_fraction 0: no test split (the test data are kept elsewhere)."""
    count = len(data.identities)
    n_val, n_test = round(count * val_fraction), round(count * test_fraction)
    if n_val < 2 or (test_fraction and n_test < 2) or count - n_val - n_test < 2:
        raise FaceauthError(
            f"{data.source}: {count} identities are too few for the splits (val_fraction={val_fraction}, "
            f"test_fraction={test_fraction} give {n_val} val and {n_test} test identities; each split needs 2 or more)"
        )
    order = np.random.default_rng(seed).permutation(count)
    splits = {"test": data.subset(order[:n_test])} if n_test else {}
    return {**splits, "val": data.subset(order[n_test:n_test + n_val]), "train": data.subset(order[n_test + n_val:])}


def merge(first: EmbeddingSet, second: EmbeddingSet) -> EmbeddingSet:
    """The samples of two identity-disjoint sets as one (labels renumbered)."""
    identities = np.concatenate([first.identities, second.identities])
    labels = np.concatenate([first.labels, second.labels + len(first.identities)])
    return EmbeddingSet(np.concatenate([first.embeddings, second.embeddings]), labels, identities,
                        first.model_names, first.model_dims, f"{first.source} (+ {second.source})")


@functools.lru_cache(maxsize=4)
def _cached_source(embeddings: str | None, identity_column: str, embedding_columns: tuple[str, ...],
                   num_identities: int, samples_per_id: int, embedding_dim: int, data_seed: int, regime: str,
                   mtime: float) -> EmbeddingSet:
    if embeddings is None:
        return synthetic_embeddings(num_identities, samples_per_id, embedding_dim, data_seed, embedding_columns, regime)
    return read_embeddings_parquet(embeddings, identity_column, embedding_columns)


def load_embeddings(config) -> EmbeddingSet:
    """The configured data source (exactly one), cached per process (trials reusing an actor skip the re-read)."""
    given = [flag for flag, on in (("--synthetic", config.synthetic), ("--embeddings", config.embeddings is not None),
                                   ("--data_dir", config.data_dir is not None)) if on]
    if len(given) != 1:
        raise FaceauthError(
            "fusion: choose one data source: --synthetic (generated embeddings), --embeddings FILE.parquet, or "
            "--data_dir DIR (face images) with --embedder NAME=MODEL.onnx per model"
            + (f" ({' and '.join(given)} were given)" if given else "")
        )
    if config.data_dir is not None:
        from faceauth.tasks.fusion.image_embeddings import load_image_embeddings  # Pillow/onnxruntime only when needed

        return load_image_embeddings(config)
    return _read_cached(config.embeddings, config)


def _read_cached(path: str | None, config) -> EmbeddingSet:
    mtime = Path(path).stat().st_mtime if path and Path(path).exists() else 0.0
    return _cached_source(path, config.identity_column, tuple(config.embedding_columns), config.num_identities,
                          config.samples_per_id, config.embedding_dim, config.data_seed, config.synthetic_regime, mtime)


def load_test_data(config, path: str) -> EmbeddingSet:
    """Test data kept apart (--test-data): a Parquet file, or with data_dir a folder of face images
    embedded by the same models. Its sizes must match the training data's."""
    if config.data_dir is not None and Path(path).is_dir():
        from faceauth.tasks.fusion.image_embeddings import load_image_embeddings

        return load_image_embeddings(replace(config, data_dir=path, cache_dir=None))
    return _read_cached(path, config)


def load_splits(config) -> dict[str, EmbeddingSet]:
    """train / val / test, identity-disjoint; with `test_data`, test is that file and the training
    data is split into train and val only (val_fraction of its identities)."""
    data = load_embeddings(config)
    if config.test_data is None:
        return split_by_identity(data, config.val_fraction, config.test_fraction, config.data_seed)
    splits = split_by_identity(data, config.val_fraction, 0.0, config.data_seed)
    test = load_test_data(replace(config, embedding_columns=data.model_names), config.test_data)
    if test.model_dims != data.model_dims:
        raise FaceauthError(f"{test.source}: embedding sizes {test.model_dims} do not match the training data's {data.model_dims}")
    return {"test": test, **splits}


def identity_batches(labels: np.ndarray, batch_size: int, per_identity: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of P x K batches: each batch holds `per_identity` samples of batch_size // per_identity
    identities, so every anchor has genuine partners in its batch. Every sample appears once per epoch
    (the last chunk of an identity may be shorter)."""
    order = rng.permutation(len(labels))
    by_identity = order[np.argsort(labels[order], kind="stable")]
    boundaries = np.flatnonzero(np.diff(labels[by_identity])) + 1
    chunks = [c for group in np.split(by_identity, boundaries) for c in np.array_split(group, max(1, len(group) // per_identity))]
    chunks = [chunks[i] for i in rng.permutation(len(chunks))]
    per_batch = max(2, batch_size // per_identity)
    return [np.concatenate(chunks[i:i + per_batch]) for i in range(0, len(chunks), per_batch)]


def verification_pairs(labels: np.ndarray, max_impostor_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, second, is_genuine) index arrays: every genuine pair of the split, and a uniform random
    sample (seeded) of at most `max_impostor_pairs` impostor pairs, all if there are fewer."""
    first, second = np.triu_indices(len(labels), k=1)
    genuine = labels[first] == labels[second]
    impostor = np.flatnonzero(~genuine)
    if impostor.size > max_impostor_pairs:
        impostor = np.sort(np.random.default_rng(seed).choice(impostor, max_impostor_pairs, replace=False))
    keep = np.concatenate([np.flatnonzero(genuine), impostor])
    return first[keep], second[keep], genuine[keep]


def normalized_concat(data: EmbeddingSet) -> np.ndarray:
    """What the model's linear layer sees: each model's embedding L2-normalised, concatenated."""
    parts = [p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12) for p in data.per_model()]
    return np.concatenate(parts, axis=1)
