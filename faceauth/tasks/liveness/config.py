"""The liveness trainer's config: every key, its type and default, in one frozen dataclass.

Defaults are sized for a 2-core laptop (64x64 inputs, a ResNet-18 layout 32 channels wide); on a GPU
with real data raise `image_size` (112-224) and `width` (64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from faceauth.training.config import check
from faceauth.tasks.pad import PadConfig

# ResNet depth -> BasicBlocks per stage (He et al. 2016, table 1; 10 is the common light variant).
BLOCKS_PER_STAGE = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


@dataclass(frozen=True)
class LivenessConfig(PadConfig):
    output_name: ClassVar[str] = "liveness_best.pth"

    batch_size: int = 32
    augment_strength: float = 0.3
    # Data (PadConfig): --synthetic, or data_root/{train,val,test}/{live,spoof}/ of JPEG/PNG images or
    # video files, or a public dataset as it ships (faceauth.tasks.pad_datasets).
    # Skip (and list) unreadable images instead of stopping on them.
    skip_corrupt: bool = False
    # Decoded, resized images are kept here as memory-mapped arrays shared by every run on the node;
    # cache: false decodes every image every epoch instead (slow; for comparison).
    cache: bool = True
    # Synthetic data (faceauth.datasets liveness; PadConfig has the rest): the size it is drawn at.
    synthetic_image_size: int = 64
    # Input: images are resized (shorter side) and centre-cropped to image_size x image_size.
    image_size: int = 64
    # Video files (OULU-NPU, CASIA-FASD, Replay-Attack, or videos in live/ and spoof/): this many frames
    # spread evenly over each video are its samples (one bootstrap unit: the video).
    frames_per_video: int = 8
    # Where a dataset ships face boxes (faceauth.tasks.face_boxes), the square of this many times the
    # box's longer side around its centre is cropped before resizing; 1: the box as shipped.
    face_box_scale: float = 1.0
    # Model: ResNet with BasicBlocks; width = channels of the first stage (doubling per stage).
    width: int = 32
    depth: Literal[10, 18, 34] = 18
    dropout: float = 0.0
    # Loss: binary cross-entropy on the attack logit; targets smoothed towards 0.5 by this much.
    label_smoothing: float = 0.0
    # On CUDA: the CNN's weights in channels_last (NHWC) order, as its inputs lie; ignored on CPU.
    channels_last: bool = True
    # Processes that read the next batches ahead while one trains (a DataLoader's workers): worth 2-4
    # on a GPU node, or with `cache: false`, where they decode; give each trial the CPUs for them
    # (--cpus-per-worker). 0: read in the training process. On CUDA batches come in pinned memory.
    loader_workers: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.synthetic_per_class >= 12, "synthetic_per_class",
              "must be at least 12 (val and test get half: 2 per attack type)")
        check(self.synthetic_image_size >= 16, "synthetic_image_size", "must be at least 16 pixels")
        check(16 <= self.image_size <= 1024, "image_size", "must lie in [16, 1024] pixels")
        check(self.width >= 4, "width", "must be at least 4 channels")
        check(0.0 <= self.dropout < 1.0, "dropout", "must lie in [0, 1)")
        check(0.0 <= self.label_smoothing < 1.0, "label_smoothing", "must lie in [0, 1)")
        check(1 <= self.frames_per_video <= 256, "frames_per_video", "must lie in [1, 256]")
        check(0.5 <= self.face_box_scale <= 4.0, "face_box_scale", "must lie in [0.5, 4] (1: the shipped box)")
        check(self.loader_workers >= 0, "loader_workers", "must be >= 0 (0: read batches in the training process)")
