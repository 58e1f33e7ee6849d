"""The liveness task (presentation-attack detection): a ResNet scores face images as bona fide or attack.

    python -m faceauth.train liveness --synthetic --epochs 10
    python -m faceauth.evaluate --model_path checkpoints/liveness_best.pth --test_data /data/casia/test

Training: training.py. Evaluation (faceauth.tasks.pad): the test images at the validation EER threshold.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from faceauth.training import session as sessions
from faceauth.io.errors import FaceauthError
from faceauth.io.layout import SPLITS
from faceauth.tasks import register
from faceauth.tasks.base import DataOption, OnnxSpec, TrainingRun
from faceauth.tasks.liveness import training
from faceauth.tasks.liveness.config import BLOCKS_PER_STAGE, LivenessConfig
from faceauth.tasks.lbp_baseline import colour_lbp_features, item_units
from faceauth.tasks.liveness.data import ImageSplit, data_root, load_folders, load_splits, resolve_test_folder
from faceauth.tasks.liveness.model import LivenessResNet, attack_scores, build_model
from faceauth.tasks.video_files import FRAME_MARK
from faceauth.tasks.pad import PresentationAttackTask, pad_flags, shipped_test_side, threshold_logit, threshold_warning


@register
class LivenessTask(PresentationAttackTask):
    name = "liveness"
    description = "liveness / anti-spoofing ResNet on face images (ISO/IEC 30107-3 PAD metrics)"
    config_cls = LivenessConfig
    system = "liveness_resnet"
    smoke = {"epochs": 2, "max_steps_per_epoch": 2, "synthetic_per_class": 12, "synthetic_image_size": 32,
             "image_size": 32, "width": 8, "depth": 10, "batch_size": 8, "frames_per_video": 2}
    generator_help = "face images, live and spoof (print, replay, mask)"
    generator_out_dir = "a new (or empty) folder for {train,val,test}/{live,spoof}/"
    generator_options = {
        "difficulty": DataOption(float, 0.5, "0: obvious attack cues .. 1: subtle"),
        "per_class": DataOption(int, 200, "images per class (live, spoof) in train; val and test get half as many"),
        "image_size": DataOption(int, 64, "side of the square images in pixels"),
        "seed": DataOption(int, 0, "the generator's seed"),
    }
    flags = {
        **pad_flags("images", "JPEG/PNG images", 200, 0.5, "decoded-image cache", "liveness_best.pth"),
        "skip_corrupt": {"help": "skip (and list) unreadable images instead of stopping"},
        "cache": {"help": "decode every image every epoch instead of caching (slow)"},
        "image_size": {"help": "input size in pixels (default 64)"},
        "frames_per_video": {"help": "video files: frames spread over each video, each a sample (default 8)"},
        "face_box_scale": {"help": "where the dataset ships face boxes: crop this many times the box (default 1)"},
        "width": {"help": "channels of the first ResNet stage (default 32)"},
        "depth": {"choices": sorted(BLOCKS_PER_STAGE), "help": "ResNet depth (default 18)"},
        "dropout": {"help": "dropout before the classifier (default 0)"},
        "label_smoothing": {},
    }

    def prepare(self, config: LivenessConfig, session: sessions.Session) -> TrainingRun:
        return training.prepare(config, session)

    def build_model(self, model_args: dict[str, Any]) -> LivenessResNet:
        return build_model(model_args)

    def test_split(self, config: LivenessConfig, checkpoint: Mapping[str, Any],
                   test_data: str | None, split_name: str = "test") -> tuple[ImageSplit, dict[str, ImageSplit]]:
        # Train and val too: the LBP baseline is fitted on the same training side as the model.
        splits = load_splits(config, ("train", "val") if test_data is not None else SPLITS)
        if test_data is not None:
            shipped = shipped_test_side(test_data, config.cache_dir)
            split = load_folders({"test": shipped or resolve_test_folder(test_data)}, config)["test"]
            splits["test"] = replace(split, source=f"{test_data} (its test side)") if shipped else split
        return splits[split_name], splits

    def lbp_features(self, config: LivenessConfig, split: ImageSplit, splits: dict[str, ImageSplit]) -> tuple[np.ndarray, ...]:
        return tuple(x for s in (splits["train"], splits["val"], split) for x in (colour_lbp_features(s.images), s.is_attack))

    def score_groups(self, split: ImageSplit) -> tuple[np.ndarray, np.ndarray]:
        units = item_units(list(split.relpaths))
        return units[split.is_attack], units[~split.is_attack]

    def protocol_data(self, config: LivenessConfig):
        return data_root(config)

    def attack_scores(self, model: torch.nn.Module, split: ImageSplit, model_args: dict[str, Any],
                      device: torch.device) -> np.ndarray:
        return attack_scores(model, split.images, device)

    def test_details(self, checkpoint: Mapping[str, Any], split: ImageSplit, threshold: float) -> dict[str, Any]:
        return {
            "data": split.source,
            "bona_fide": int((~split.is_attack).sum()),
            "attacks": int(split.is_attack.sum()),
            "attack_types": ", ".join(f"{t} {n}" for t, n in split.type_counts().items()),
            "threshold": f"{threshold:.6g} (the validation EER threshold on the attack probability)",
            "skipped_images": len(split.skipped),
            "bootstrap_unit": ("videos (their sampled frames count as one)" if any(FRAME_MARK in p for p in split.relpaths)
                               else "images (or subject/video folders)"),
            "bootstrap_units": int(len(np.unique(item_units(list(split.relpaths))))),
        }

    def onnx_spec(self, model_args: dict[str, Any]) -> OnnxSpec:
        size = model_args["image_size"]
        return OnnxSpec(
            input_names=("image",),
            output_names=("attack_logit",),
            dynamic_axes={"image": {0: "batch"}},
            example_inputs=lambda batch, check: (torch.rand(batch, 3, size, size),),
        )

    def check_data(self, config: LivenessConfig) -> str:
        splits = load_splits(config)
        cached = "cache hit" if all(s.cache_hit for s in splits.values()) else ("cached" if config.cache else "no cache")
        return f"{data_root(config)}: " + "; ".join(f"{name} {split.summary()}" for name, split in splits.items()) + f" ({cached})"

    def deployment_info(self, checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        args = checkpoint["model_args"]
        size = args["image_size"]
        threshold = float(checkpoint["metrics"]["threshold"])
        logit = threshold_logit(threshold)
        return {
            "preprocessing": f"decode to RGB, resize the shorter side to {size} px (bilinear, antialiased), centre-crop "
                             f"{size}x{size}, divide by 255; mean {args['mean']} and std {args['std']} are applied inside the model",
            "input": f"image: float32 (batch, 3, {size}, {size}), NCHW, RGB channel order, values in [0, 1]",
            "output": "attack_logit: float32 (batch,); sigmoid(attack_logit) is the attack (spoof) probability, higher = attack",
            "decision": f"attack when sigmoid(attack_logit) >= {threshold:.6g} (equivalently attack_logit >= {logit:.6g}), "
                        "the validation split's EER threshold",
            "input_size": size,
            "channel_order": "RGB",
            "mean": args["mean"],
            "std": args["std"],
            "threshold": threshold,
            "threshold_logit": logit,
            **threshold_warning(checkpoint),
        }

    def write_synthetic(self, out_dir: str, options: Mapping[str, Any]) -> list[Path]:
        from faceauth.tasks.liveness.synthetic import SyntheticSpec, write_dataset

        if not 0 <= options["difficulty"] <= 1:
            raise FaceauthError(f"--difficulty must lie in [0, 1], got {options['difficulty']}")
        if options["per_class"] < 12 or options["image_size"] < 16:
            raise FaceauthError("--per-class must be at least 12 and --image-size at least 16")
        return [write_dataset(out_dir, SyntheticSpec(**options))]
