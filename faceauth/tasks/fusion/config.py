"""The fusion trainer's config: every key, its type and default, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Union

from faceauth.training.config import TrainConfig, check
from faceauth.tasks.fusion.embedders import EmbedderSpec, parse_embedders



@dataclass(frozen=True)
class FusionConfig(TrainConfig):
    # Data, one source: --synthetic, a Parquet file of embeddings (one row per image), or a folder of
    # face images (data_dir/person_id/image.jpg) embedded by ONNX face-recognition models.
    synthetic: bool = False
    embeddings: Optional[str] = None
    identity_column: str = "identity"
    # The Parquet file's embedding columns, one per model, in this order; empty: every fixed-size list
    # column of the file, in the file's order.
    embedding_columns: tuple[str, ...] = ()
    data_dir: Optional[str] = None
    # With data_dir: one entry per model, "NAME=MODEL.onnx[,key=value...]" or a mapping with keys name,
    # path, family, input_size, channel_order, mean, std (see faceauth/tasks/fusion/embedders.py).
    embedders: tuple[Union[str, dict[str, Any]], ...] = ()
    # Where image embeddings are cached (default data_dir/.faceauth-cache/).
    cache_dir: Optional[str] = None
    # Leave out (and list) unreadable images and identities with fewer than two images, instead of stopping.
    skip_corrupt: bool = False
    embed_batch_size: int = 32  # images per onnxruntime call
    # Verification benchmarks as the field ships them: insightface .bin files (lfw.bin, cfp_fp.bin,
    # agedb_30.bin, ...), LFW folders holding pairs.txt, or pairs.txt files. Test figures only (10-fold
    # accuracy of the fused model and every baseline, with a verdict), never used for training or model
    # selection; their images are embedded by `embedders` (faceauth/tasks/fusion/benchmarks.py).
    benchmarks: tuple[str, ...] = ()
    num_identities: int = 200  # synthetic only
    samples_per_id: int = 20  # synthetic only
    embedding_dim: int = 512  # synthetic only, regime "default": each model's embedding size
    # Synthetic only: the kind of data (faceauth/tasks/fusion/synthetic.py REGIMES), e.g. dominant,
    # balanced, shared_error, warped; a regime with its own identity counts overrides the two above.
    synthetic_regime: str = "default"
    # Test data kept apart from the training data (a Parquet file like --embeddings, or a folder of
    # face images with data_dir): when given, no test split is carved out of the training data.
    test_data: Optional[str] = None
    # Seeds the synthetic data and the identity split; kept apart from `seed` so that every trial
    # of a search sees the same data and splits whatever its training seed.
    data_seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    # Evaluation uses every genuine pair and this many impostor pairs, sampled with data_seed.
    max_impostor_pairs: int = 100_000
    # Model. The kind of fusion: score_average (no training: the cosine of the concatenated
    # normalised embeddings), linear (a closed-form fusion fitted on the training identities and
    # chosen on the validation ones: LDA or whitening with a shrinkage, or score averaging), or mlp
    # (that linear fusion plus a residual MLP trained on top, starting at zero; kept only where it
    # beats the linear fusion on validation). See faceauth/tasks/fusion/linear.py.
    fusion_kind: Literal["score_average", "linear", "mlp"] = "mlp"
    hidden_sizes: tuple[int, ...] = (512, 256, 512)
    # Size of the fused embedding from LDA (at most one fewer than the training identities); score
    # averaging and whitening keep the input's size.
    out_dim: int = 512
    # After model selection, fit the exported model again on the training and validation identities
    # together (the chosen linear fusion, shrinkage and MLP epochs): every identity counts.
    refit: bool = True
    dropout: float = 0.1
    # The residual MLP's output r is added to the unit linear embedding as r / (1 + |r| / bound): never
    # longer than `bound` (0: unbounded, the behaviour before this key). Unbounded, every loss grew the
    # residual past the linear part within an epoch or two and validation TAR fell to near zero while
    # the training loss fell (benchmarks/residual_epochs.py). 0.05 held every regime near the start
    # over 15 epochs; 0.1 let shared_error fall 4 points, 0.2 let it fall 23. Searchable: 0.02 to 0.2.
    residual_bound: float = 0.05
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
        check(self.arcface_scale > 0, "arcface_scale", "must be positive (0 makes every logit 0: nothing to learn)")
        check(self.samples_per_id >= 2, "samples_per_id", "must be at least 2 (genuine pairs need two samples)")
        check(self.embedding_dim >= 2, "embedding_dim", "must be at least 2")
        from faceauth.tasks.fusion.synthetic import REGIMES

        check(self.synthetic_regime in REGIMES, "synthetic_regime", f"must be one of {', '.join(REGIMES)}")
        check(self.fusion_kind != "mlp" or len(self.hidden_sizes) >= 1, "hidden_sizes", "must name at least one layer with fusion_kind: mlp")
        self._check_image_source()
        check(self.test_data is None or not self.synthetic, "test_data", "is for real data; synthetic data draws its own test split")
        check(0 < self.val_fraction < 1 and 0 < self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1,
              "val_fraction", "and test_fraction must lie in (0, 1) and add up to less than 1")
        check(self.max_impostor_pairs >= 1000, "max_impostor_pairs", "must be at least 1000 (TAR at FAR=1e-3 needs them)")
        check(all(h >= 1 for h in self.hidden_sizes), "hidden_sizes", "must be positive widths")
        check(self.out_dim >= 2, "out_dim", "must be at least 2")
        check(0.0 <= self.dropout < 1.0, "dropout", "must lie in [0, 1)")
        check(self.residual_bound >= 0, "residual_bound", "must be >= 0 (0: unbounded)")
        check(self.margin >= 0, "margin", "must be >= 0")
        check(2 <= self.samples_per_identity_per_batch <= self.batch_size // 2, "samples_per_identity_per_batch",
              "must be at least 2 and at most batch_size / 2")

    def _check_image_source(self) -> None:
        specs = self.embedder_specs()  # raises naming embedders[i] and the key
        check(self.data_dir is not None or bool(self.benchmarks) or not specs, "embedders",
              "is used only with data_dir (a folder of face images) or with benchmarks")
        check(not self.benchmarks or bool(specs), "benchmarks",
              "needs the embedders the model fuses, to embed their images: one --embedder NAME=MODEL.onnx per model, with "
              "--data_dir or with --embeddings (whose columns are then the embedders' names)")
        check(not self.benchmarks or not self.synthetic, "benchmarks",
              "needs real embedders; synthetic embeddings come from no model: use --data_dir or --embeddings with --embedder")
        check(self.data_dir is None or bool(specs), "data_dir",
              "needs embedders: one --embedder NAME=MODEL.onnx per face-recognition model, e.g. arcface=models/arcface.onnx")
        check(self.embed_batch_size >= 1, "embed_batch_size", "must be at least 1")
        if not specs:
            return
        names = tuple(spec.name for spec in specs)
        check(self.embedding_columns in (names, ()), "embedding_columns",
              f"must be left out with embedders: the columns are the embedders' names ({', '.join(names)})")
        # With embedders (data_dir, or benchmarks beside a Parquet file) the embedders name the columns.
        # Recording that here keeps everything that reads embedding_columns (faceauth.evaluate --test-data
        # on a `faceauth.embed` file) on the same columns.
        object.__setattr__(self, "embedding_columns", names)

    def embedder_specs(self) -> tuple[EmbedderSpec, ...]:
        return parse_embedders(self.embedders)

    def output_path(self) -> Path:
        return Path(self.output)
