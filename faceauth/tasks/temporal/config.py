"""The temporal liveness trainer's config: every key, its type and default, in one frozen dataclass.

Defaults are sized for a 2-core laptop: per-frame features are small vectors cached on disk, so an
epoch is a few hundred LSTM windows and a trial takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from faceauth.training.config import check
from faceauth.tasks.pad import PadConfig
from faceauth.tasks.temporal.model import KINDS
from faceauth.tasks.temporal.synthetic import REGIMES

FRAME_FEATURES = ("texture", "handcrafted", "checkpoint")
DEFAULT_FRAME_FEATURES = "texture"


@dataclass(frozen=True)
class TemporalConfig(PadConfig):
    output_name: ClassVar[str] = "temporal_best.pth"

    # Defaults chosen on the tuning regimes of synthetic.TUNING_REGIMES only (docs/temporal.md):
    # an epoch is a few steps on a few hundred videos, so many epochs, a moderate lr, and weight decay,
    # dropout and augmentation against over-fitting a hundred clips.
    epochs: int = 100
    patience: int = 30
    lr: float = 3e-3
    weight_decay: float = 1e-2
    batch_size: int = 32
    augment_strength: float = 0.5  # temporal jitter, dropped frames, feature noise (data.train_windows)
    # Data (PadConfig): --synthetic, or data_root/{train,val,test}/{live,spoof}/ where each item is a
    # video: a folder of frames (sorted by name) or a video file (.avi, .mp4, ...).
    # Skip (and list) unreadable, too short or mixed-size videos instead of stopping on them.
    skip_invalid: bool = False
    # Test data given on its own (a folder with live/ and spoof/, or a data root holding test/): then
    # no test split is read from data_root (or generated), and evaluation uses this one.
    test_data: Optional[str] = None
    # Per-frame features (features.py), one of FRAME_FEATURES: "texture" (colour-texture LBP, rigid-
    # motion residuals around eyes and mouth, flicker spectrum; no weights), "handcrafted" (a smaller
    # fixed set), "checkpoint" (the penultimate features of the frozen image model at
    # frame_extractor, e.g. a liveness model.pt). None: "checkpoint" when frame_extractor is set,
    # else "texture".
    frame_features: Optional[str] = None
    frame_extractor: Optional[str] = None
    # Synthetic data (faceauth.datasets temporal; PadConfig has the rest): frames per video and frame
    # side in pixels. Videos per class: 24 in train.
    synthetic_per_class: int = 24
    synthetic_frames: int = 32
    synthetic_size: int = 64
    synthetic_difficulty: float = 0.7
    # A named synthetic regime (synthetic.REGIMES: frame size, clip length, static cue strength, blink
    # rate, shake, light drift); it replaces synthetic_frames, synthetic_size and synthetic_difficulty.
    synthetic_regime: Optional[str] = None
    # Sequences: seq_len frames, every frame_stride-th frame of the video (a window spans
    # (seq_len - 1) * frame_stride + 1 frames). A video's score is the mean attack probability of
    # its windows, which overlap by half.
    seq_len: int = 12
    frame_stride: int = 2
    # Model (model.TemporalModel): time_blind = a logistic regression on each feature's window mean;
    # clip_stats = on its mean, spread and mean absolute frame-to-frame change (both closed form, no
    # training); lstm = clip_stats plus an LSTM residual (mean-pooled over time, one logit starting at
    # zero), kept only where it beats clip_stats on the validation videos beyond the noise.
    temporal_kind: str = "lstm"
    hidden_size: int = 16
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.2
    # The LSTM residual r is added to the head's logit as r / (1 + |r| / bound): it moves a window's
    # logit by less than `bound` (0: unbounded, the behaviour before this key). Unbounded, validation
    # EER rose 1 to 5 videos in 30 epochs on most regimes; 0.5 kept it within one video of the start
    # (benchmarks/residual_epochs.py). Searchable: 0.2 to 2.
    residual_bound: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.synthetic_per_class >= 4, "synthetic_per_class", "must be at least 4 (2 per attack type)")
        check(self.synthetic_frames >= 2, "synthetic_frames", "must be at least 2")
        check(self.synthetic_size >= 16, "synthetic_size", "must be at least 16 pixels")
        check(self.frame_features is None or self.frame_features in FRAME_FEATURES, "frame_features",
              f"must be one of {', '.join(FRAME_FEATURES)}")
        check(self.feature_kind != "checkpoint" or self.frame_extractor is not None, "frame_features",
              "'checkpoint' needs frame_extractor: the path of a faceauth image-model checkpoint (e.g. a liveness model.pt)")
        check(self.synthetic_regime is None or self.synthetic_regime in REGIMES, "synthetic_regime",
              f"must be one of {', '.join(REGIMES)}")
        check(self.temporal_kind in KINDS, "temporal_kind", f"must be one of {', '.join(KINDS)}")
        check(self.seq_len >= 1, "seq_len", "must be at least 1")
        check(self.frame_stride >= 1, "frame_stride", "must be at least 1")
        check(self.hidden_size >= 1, "hidden_size", "must be at least 1")
        check(self.num_layers >= 1, "num_layers", "must be at least 1")
        check(0.0 <= self.dropout < 1.0, "dropout", "must lie in [0, 1)")
        check(self.residual_bound >= 0, "residual_bound", "must be >= 0 (0: unbounded)")

    @property
    def feature_kind(self) -> str:
        if self.frame_features is not None:
            return self.frame_features
        return "checkpoint" if self.frame_extractor is not None else DEFAULT_FRAME_FEATURES

    @property
    def window_span(self) -> int:
        """Frames a window covers in the video: the fewest a usable video must have."""
        return (self.seq_len - 1) * self.frame_stride + 1
