"""The fusion trainer's config: every key, its type and default, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from faceauth.config import TrainConfig, check


@dataclass(frozen=True)
class FusionConfig(TrainConfig):
    # Data: --synthetic, or a Parquet file of embeddings (one row per image).
    synthetic: bool = False
    embeddings: Optional[str] = None
    identity_column: str = "identity"
    embedding_columns: tuple[str, ...] = ("arcface", "facenet", "mobilefacenet")
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
        check(0 < self.val_fraction < 1 and 0 < self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1,
              "val_fraction", "and test_fraction must lie in (0, 1) and add up to less than 1")
        check(self.max_impostor_pairs >= 1000, "max_impostor_pairs", "must be at least 1000 (TAR at FAR=1e-3 needs them)")
        check(all(h >= 1 for h in self.hidden_sizes), "hidden_sizes", "must be positive widths")
        check(self.out_dim >= 2, "out_dim", "must be at least 2")
        check(0.0 <= self.dropout < 1.0, "dropout", "must lie in [0, 1)")
        check(self.margin >= 0, "margin", "must be >= 0")
        check(2 <= self.samples_per_identity_per_batch <= self.batch_size // 2, "samples_per_identity_per_batch",
              "must be at least 2 and at most batch_size / 2")

    def output_path(self) -> Path:
        return Path(self.output)
