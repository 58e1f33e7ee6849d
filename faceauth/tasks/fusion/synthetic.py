"""Synthetic face-recognition embeddings in regimes that differ in what decides whether fusion pays:

    python -m faceauth.train fusion --synthetic --synthetic-regime dominant
    python -m faceauth.datasets fusion OUT_DIR --regime warped        # train.parquet + test.parquet

Every regime draws the same kind of data: one latent identity vector per person, seen by each
face-recognition model through its own random projection (the models' spaces are not aligned), each
model reading part of it; a per-image error shared by all models (pose, blur: averaging cannot cancel
it); each model's own noise scaled by a per-image quality factor; optionally a non-linear warp of each
model's space. What changes between regimes: embedding sizes, how strong each model is, how strong the
shared error is, the warp, and how many identities and images there are.

These data are for running and testing the pipeline and for checking that a method does not only work
on one generator: never for claims about real recognisers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from faceauth.io.errors import FaceauthError

IDENTITY_FACTORS = 256


@dataclass(frozen=True)
class ModelSpec:
    """One face-recognition model: its embedding size, the share of the identity factors it sees,
    the share of its output dimensions that carry identity, its sensitivity to the shared per-image
    error, and its own noise (the last two as amplitudes relative to the identity signal)."""

    dim: int
    coverage: float
    informative: float
    shared_sensitivity: float
    noise: float


@dataclass(frozen=True)
class Regime:
    name: str
    description: str
    models: tuple[ModelSpec, ...]
    shared_error: float = 1.0  # multiplies every model's shared_sensitivity
    # Rank of the shared error: a few factors are a subspace a linear fusion can project out; as many
    # as the identity factors, it cannot be removed without losing identity too.
    shared_factors: int = 24
    # A per-image error in the identity space itself (what a pose or blur does to how the face reads),
    # seen by every model: no fusion can remove it; it caps what any system reaches.
    latent_error: float = 0.0
    warp: float = 0.0  # 0: linear spaces; 1: a strong non-linear warp of each model's space
    num_identities: int | None = None  # None: the config's num_identities / samples_per_id
    samples_per_id: int | None = None


def _three(dims: tuple[int, int, int], noise: tuple[float, float, float], sensitivity=(0.8, 1.0, 0.9),
           coverage=(0.75, 0.75, 0.75), informative=(0.8, 0.6, 0.5)) -> tuple[ModelSpec, ...]:
    return tuple(ModelSpec(*values) for values in zip(dims, coverage, informative, sensitivity, noise))


REGIMES: dict[str, Regime] = {r.name: r for r in (
    Regime("default", "three 512-d models of graded quality, a low-rank shared error (the data --synthetic has always drawn)",
           _three((512, 512, 512), (1.6, 1.8, 1.9))),
    Regime("dominant", "one strong model and two weak ones, each image with an error all three share",
           _three((512, 512, 512), (0.6, 1.4, 1.9), sensitivity=(1.0, 1.2, 1.2)), shared_factors=64, latent_error=0.8),
    Regime("balanced", "three models of the same quality and different sizes (512, 256, 128)",
           _three((512, 256, 128), (1.3, 1.3, 1.3), informative=(0.7, 0.7, 0.7)), shared_error=0.8, shared_factors=64,
           latent_error=0.7),
    Regime("shared_error", "a strong per-image error (pose, blur) that every model sees alike",
           _three((512, 512, 512), (0.8, 1.0, 1.2)), shared_error=1.6, shared_factors=128, latent_error=1.3),
    Regime("warped", "each model's space non-linearly warped, sizes 512, 128 and 256",
           _three((512, 128, 256), (1.0, 1.4, 1.8)), warp=0.8, shared_factors=64, latent_error=0.7),
    Regime("few_identities", "50 identities with 4 images each, as a small enrolment set",
           _three((512, 512, 512), (1.0, 1.4, 1.8)), shared_factors=64, latent_error=0.6, num_identities=50, samples_per_id=4),
    Regime("many_images", "120 identities with 30 images each, two models (512 and 256)",
           (ModelSpec(512, 0.75, 0.8, 0.8, 1.0), ModelSpec(256, 0.75, 0.6, 1.0, 1.5)), shared_factors=64,
           latent_error=0.8, num_identities=120, samples_per_id=30),
    Regime("many_identities", "2,000 identities with 5 images each",
           _three((512, 512, 512), (1.0, 1.4, 1.8), sensitivity=(1.1, 1.1, 1.1)), shared_factors=64, latent_error=0.8,
           num_identities=2000, samples_per_id=5),
)}


def regime(name: str) -> Regime:
    if name not in REGIMES:
        raise FaceauthError(f"unknown synthetic regime '{name}'; choose one of {', '.join(REGIMES)}")
    return REGIMES[name]


def _warp(x: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth, invertible-looking bend of the space: x + s * tanh(x G) H, with G and H random and
    scaled so the bend is of the size of x itself at strength 1."""
    dim = x.shape[1]
    scale = np.sqrt(dim) / np.linalg.norm(x, axis=1, keepdims=True)
    unit = x * scale  # unit variance per dimension
    g = rng.standard_normal((dim, dim)) / np.sqrt(dim) * 1.5
    h = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    return (unit + strength * np.tanh(unit @ g) @ h) / scale


def generate(spec: Regime, num_identities: int, samples_per_id: int, seed: int = 0,
             model_names: tuple[str, ...] | None = None):
    """Draw an EmbeddingSet of the regime with these counts; `model_names` name the columns when
    there is one per model (otherwise model_1, model_2, ...)."""
    from faceauth.tasks.fusion.embedding_set import EmbeddingSet

    models = spec.models
    names = tuple(model_names or ())
    if len(names) != len(models):
        names = tuple(f"model_{i + 1}" for i in range(len(models)))
    rng = np.random.default_rng(seed)
    n = num_identities * samples_per_id
    identity = rng.standard_normal((num_identities, IDENTITY_FACTORS))
    labels = np.repeat(np.arange(num_identities), samples_per_id)
    shared = rng.standard_normal((n, spec.shared_factors))
    quality = rng.uniform(0.7, 1.3, size=(n, 1))
    latent = identity[labels]
    if spec.latent_error:
        latent = latent + spec.latent_error * quality * rng.standard_normal(latent.shape)
    parts = []
    for model in models:
        seen = rng.permutation(IDENTITY_FACTORS)[: max(1, int(IDENTITY_FACTORS * model.coverage))]
        dims = rng.permutation(model.dim)[: max(1, int(model.dim * model.informative))]
        # Each term is scaled to a total energy of 1 (identity) or the model's amplitude squared.
        projection = np.zeros((len(seen), model.dim))
        projection[:, dims] = rng.standard_normal((len(seen), len(dims))) / np.sqrt(len(seen) * len(dims))
        shared_projection = rng.standard_normal((spec.shared_factors, model.dim)) / np.sqrt(spec.shared_factors * model.dim)
        x = (latent[:, seen] @ projection
             + spec.shared_error * model.shared_sensitivity * shared @ shared_projection
             + model.noise * quality * rng.standard_normal((n, model.dim)) / np.sqrt(model.dim))
        if spec.warp > 0:
            x = _warp(x, spec.warp, rng)
        parts.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return EmbeddingSet(
        embeddings=np.concatenate(parts, axis=1).astype(np.float32),
        labels=labels.astype(np.int64),
        identities=np.array([f"synthetic_{i:05d}" for i in range(num_identities)]),
        model_names=names,
        model_dims=tuple(m.dim for m in models),
        source=f"synthetic regime '{spec.name}' ({num_identities} identities x {samples_per_id} samples, seed {seed})",
    )


def write_parquet(data, path) -> None:
    """The --embeddings layout: an identity column and one list column per model."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from faceauth.io.runlog import atomic_replace

    columns = {"identity": data.identities[data.labels].tolist()}
    for name, part in zip(data.model_names, data.per_model()):
        columns[name] = pa.array(list(part), type=pa.list_(pa.float32(), part.shape[1]))
    with atomic_replace(path) as tmp:
        pq.write_table(pa.table(columns), tmp)


def write_dataset(out_dir, spec: Regime, train_identities: int, test_identities: int, samples_per_id: int,
                  seed: int) -> list:
    """OUT_DIR/train.parquet and OUT_DIR/test.parquet: identity-disjoint, drawn together (same models)."""
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = generate(spec, train_identities + test_identities, samples_per_id, seed)
    order = np.random.default_rng(seed).permutation(len(data.identities))
    written = []
    for name, ids in (("train", order[test_identities:]), ("test", order[:test_identities])):
        write_parquet(data.subset(ids), out / f"{name}.parquet")
        written.append(out / f"{name}.parquet")
    (out / "README.txt").write_text(
        f"Synthetic face-recognition embeddings, regime '{spec.name}': {spec.description}.\n"
        f"{train_identities} training and {test_identities} test identities (disjoint), {samples_per_id} images each, seed {seed}.\n"
        "Procedurally drawn by faceauth.datasets: for running and testing the pipeline, never for claims about real recognisers.\n"
        f"Train: python -m faceauth.train fusion --embeddings {out / 'train.parquet'} --test-data {out / 'test.parquet'}\n"
        f"Columns: identity, {', '.join(data.model_names)}\n")
    return written


def with_dim(spec: Regime, dim: int) -> Regime:
    """The default regime at another embedding size (the config's embedding_dim)."""
    return replace(spec, models=tuple(replace(m, dim=dim) for m in spec.models))
