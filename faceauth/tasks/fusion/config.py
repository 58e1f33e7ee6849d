"""The fusion trainer's config: every key, its type and default, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Union

from faceauth.config import TrainConfig, check
from faceauth.tasks.fusion.embedders import EmbedderSpec, parse_embedders

DEFAULT_EMBEDDING_COLUMNS = ("arcface", "facenet", "mobilefacenet")


@dataclass(frozen=True)
class FusionConfig(TrainConfig):
    # Data, one source: --synthetic, a Parquet file of embeddings (one row per image), or a folder of
    # face images (data_dir/person_id/image.jpg) embedded by ONNX face-recognition models.
    synthetic: bool = False
    embeddings: Optional[str] = None
    identity_column: str = "identity"
    embedding_columns: tuple[str, ...] = DEFAULT_EMBEDDING_COLUMNS
    data_dir: Optional[str] = None
    # With data_dir: one entry per model, "NAME=MODEL.onnx[,key=value...]" or a mapping with keys name,
    # path, family, input_size, channel_order, mean, std (see faceauth/tasks/fusion/embedders.py).
    embedders: tuple[Union[str, dict[str, Any]], ...] = ()
    # Where image embeddings are cached (default data_dir/.faceauth-cache/).
    cache_dir: Optional[str] = None
    # Leave out (and list) unreadable images and identities with fewer than two images, instead of stopping.
    skip_corrupt: bool = False
    embed_batch_size: int = 32  # images per onnxruntime call
    num_identities: int = 200  # synthetic only
    samples_per_id: int = 20  # synthetic only
    embedding_dim: int = 512  # synthetic only: each model's embedding size
    # Seeds the synthetic data and the identity split; kept apart from `seed` so that every trial
    # of a search sees the same data and splits whatever its training seed.
    data_seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    # Evaluation uses every genuine pair and this many impostor pairs, sampled with data_seed.
    max_impostor_pairs: int = 100_000
    # Model.
    hidden_sizes: tuple[int, ...] = (512, 256, 512)
    out_dim: int = 512
    dropout: float = 0.1
    # Loss: contrastive (cosine distance), triplet (batch-hard) or arcface (additive angular margin).
    loss: Literal["contrastive", "triplet", "arcface"] = "contrastive"
    margin: float = 0.5
    arcface_scale: float = 32.0
    # Batches are P identities x K samples; this is K.
    samples_per_identity_per_batch: int = 4
    # Where the standalone command writes the best model.
    output: str = "weights/fusion_mlp.pth"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.num_identities >= 6, "num_identities", "must be at least 6 (2 per split)")
        check(self.samples_per_id >= 2, "samples_per_id", "must be at least 2 (genuine pairs need two samples)")
        check(self.embedding_dim >= 2, "embedding_dim", "must be at least 2")
        check(len(self.embedding_columns) >= 1, "embedding_columns", "must name at least one column")
        self._check_image_source()
        check(0 < self.val_fraction < 1 and 0 < self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1,
              "val_fraction", "and test_fraction must lie in (0, 1) and add up to less than 1")
        check(self.max_impostor_pairs >= 1000, "max_impostor_pairs", "must be at least 1000 (TAR at FAR=1e-3 needs them)")
        check(all(h >= 1 for h in self.hidden_sizes), "hidden_sizes", "must be positive widths")
        check(self.out_dim >= 2, "out_dim", "must be at least 2")
        check(0.0 <= self.dropout < 1.0, "dropout", "must lie in [0, 1)")
        check(self.margin >= 0, "margin", "must be >= 0")
        check(2 <= self.samples_per_identity_per_batch <= self.batch_size // 2, "samples_per_identity_per_batch",
              "must be at least 2 and at most batch_size / 2")

    def _check_image_source(self) -> None:
        specs = self.embedder_specs()  # raises naming embedders[i] and the key
        check(self.data_dir is not None or not specs, "embedders", "is used only with data_dir (a folder of face images)")
        check(self.data_dir is None or bool(specs), "data_dir",
              "needs embedders: one --embedder NAME=MODEL.onnx per face-recognition model, e.g. arcface=models/arcface.onnx")
        check(self.embed_batch_size >= 1, "embed_batch_size", "must be at least 1")
        if not specs:
            return
        names = tuple(spec.name for spec in specs)
        check(self.embedding_columns in (names, DEFAULT_EMBEDDING_COLUMNS), "embedding_columns",
              f"must be left out with data_dir: the columns are the embedders' names ({', '.join(names)})")
        # With data_dir the embedders name the columns. Recording that here keeps everything that reads
        # embedding_columns (faceauth.evaluate --test-data on a `faceauth.embed` file) on the same columns.
        object.__setattr__(self, "embedding_columns", names)

    def embedder_specs(self) -> tuple[EmbedderSpec, ...]:
        return parse_embedders(self.embedders)

    def output_path(self) -> Path:
        return Path(self.output)
