"""Liveness (presentation-attack detection): a ResNet scores face images as bona fide or attack."""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch

from faceauth.metrics import PAD_KEYS
from faceauth.tasks import register
from faceauth.tasks.base import OnnxSpec, Task
from faceauth.tasks.liveness.config import BLOCKS_PER_STAGE, LivenessConfig
from faceauth.tasks.liveness.data import data_root, load_splits
from faceauth.tasks.liveness.evaluate import evaluate_checkpoint
from faceauth.tasks.liveness.train import OBJECTIVE, build_model, train_loop


def onnx_spec(model_args: dict[str, Any]) -> OnnxSpec:
    size = model_args["image_size"]
    return OnnxSpec(
        input_names=("image",),
        output_names=("attack_logit",),
        dynamic_axes={"image": {0: "batch"}},
        example_inputs=lambda batch, check: (torch.rand(batch, 3, size, size),),
    )


def add_cli_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--synthetic", action="store_true", default=argparse.SUPPRESS, help="use generated images (no data needed)")
    add("--data_root", "--data-root", dest="data_root", metavar="DIR", default=argparse.SUPPRESS,
        help="DIR/{train,val,test}/{live,spoof}/ with JPEG/PNG images (spoof/<attack type>/ allowed)")
    add("--skip_corrupt", "--skip-corrupt", dest="skip_corrupt", action="store_true", default=argparse.SUPPRESS,
        help="skip (and list) unreadable images instead of stopping")
    add("--cache_dir", "--cache-dir", dest="cache_dir", metavar="DIR", default=argparse.SUPPRESS,
        help="decoded-image cache and synthetic data (default ~/.cache/faceauth)")
    add("--no_cache", "--no-cache", dest="cache", action="store_false", default=argparse.SUPPRESS,
        help="decode every image every epoch instead of caching (slow)")
    add("--image_size", "--image-size", dest="image_size", type=int, default=argparse.SUPPRESS,
        help="input size in pixels (default 64)")
    add("--width", type=int, default=argparse.SUPPRESS, help="channels of the first ResNet stage (default 32)")
    add("--depth", type=int, choices=sorted(BLOCKS_PER_STAGE), default=argparse.SUPPRESS, help="ResNet depth (default 18)")
    add("--dropout", type=float, default=argparse.SUPPRESS, help="dropout before the classifier (default 0)")
    add("--label_smoothing", "--label-smoothing", dest="label_smoothing", type=float, default=argparse.SUPPRESS)
    add("--synthetic_per_class", "--synthetic-per-class", dest="synthetic_per_class", type=int, default=argparse.SUPPRESS,
        help="synthetic images per class in train, half as many in val and test (default 200)")
    add("--synthetic_difficulty", "--synthetic-difficulty", dest="synthetic_difficulty", type=float,
        default=argparse.SUPPRESS, help="synthetic data: 0 obvious .. 1 subtle attack cues (default 0.5)")
    add("--output_dir", "--output-dir", dest="output_dir", metavar="DIR", default=argparse.SUPPRESS,
        help="where liveness_best.pth goes (default ./checkpoints)")


def deployment_info(checkpoint: dict[str, Any]) -> dict[str, Any]:
    args = checkpoint["model_args"]
    size = args["image_size"]
    threshold = float(checkpoint["metrics"]["threshold"])
    logit = math.log(threshold / (1 - threshold)) if 0 < threshold < 1 else (math.inf if threshold >= 1 else -math.inf)
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
    }


def check_data(config: LivenessConfig) -> str:
    splits = load_splits(config)
    cached = "cache hit" if all(s.cache_hit for s in splits.values()) else ("cached" if config.cache else "no cache")
    return f"{data_root(config)}: " + "; ".join(f"{name} {split.summary()}" for name, split in splits.items()) + f" ({cached})"


def _smoke(config: LivenessConfig) -> dict[str, Any]:
    return {"epochs": 2, "max_steps_per_epoch": 2, "synthetic_per_class": 12, "synthetic_image_size": 32,
            "image_size": 32, "width": 8, "depth": 10, "batch_size": 8}


TASK = register(Task(
    name="liveness",
    description="liveness / anti-spoofing ResNet on face images (ISO/IEC 30107-3 PAD metrics)",
    config_cls=LivenessConfig,
    train_loop=train_loop,
    build_model=build_model,
    evaluate=evaluate_checkpoint,
    onnx_spec=onnx_spec,
    objective=OBJECTIVE,
    metric_names=PAD_KEYS,
    check_data=check_data,
    data_keys=("data_root",),
    add_cli_flags=add_cli_flags,
    deployment_info=deployment_info,
    smoke_overrides=_smoke,
))
