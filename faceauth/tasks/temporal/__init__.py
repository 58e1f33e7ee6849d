"""Temporal liveness: a closed-form head on window statistics of cached per-frame features, plus an LSTM
residual, scores videos as bona fide or attack."""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch

from faceauth.metrics import PAD_KEYS
from faceauth.tasks import register
from faceauth.tasks.base import OnnxSpec, Task
from faceauth.tasks.temporal.config import FRAME_FEATURES, TemporalConfig
from faceauth.tasks.temporal.data import data_root, load_splits
from faceauth.tasks.temporal.evaluate import evaluate_checkpoint
from faceauth.tasks.temporal.synthetic import REGIMES
from faceauth.tasks.temporal.train import OBJECTIVE, build_model, train_loop


def onnx_spec(model_args: dict[str, Any]) -> OnnxSpec:
    # The example's sequence is at least 2 long: torch.export treats a size-1 axis as fixed.
    seq = max(2, model_args["seq_len"])
    return OnnxSpec(
        input_names=("features",),
        output_names=("attack_logit",),
        dynamic_axes={"features": {0: "batch", 1: "seq"}},
        example_inputs=lambda batch, check: (torch.randn(batch, seq + 3 if check else seq, model_args["feature_dim"]),),
    )


def add_cli_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--synthetic", action="store_true", default=argparse.SUPPRESS, help="use generated videos (no data needed)")
    add("--data_root", "--data-root", dest="data_root", metavar="DIR", default=argparse.SUPPRESS,
        help="DIR/{train,val,test}/{live,spoof}/ with one frame folder or video file per video (spoof/<attack type>/ allowed)")
    add("--skip_invalid", "--skip-invalid", dest="skip_invalid", action="store_true", default=argparse.SUPPRESS,
        help="skip (and list) unreadable, too short or mixed-size videos instead of stopping")
    add("--test_data", "--test-data", dest="test_data", metavar="DIR", default=argparse.SUPPRESS,
        help="test videos (a folder with live/ and spoof/, or a data root holding test/); then no test split is "
             "read from the training data")
    add("--frame_features", "--frame-features", dest="frame_features", choices=FRAME_FEATURES, default=argparse.SUPPRESS,
        help="per-frame features: texture (default), handcrafted, or checkpoint (with --frame-extractor)")
    add("--frame_extractor", "--frame-extractor", dest="frame_extractor", metavar="CHECKPOINT", default=argparse.SUPPRESS,
        help="per-frame features from this checkpoint's frozen model (e.g. a liveness model.pt): frame_features checkpoint")
    add("--synthetic_regime", "--synthetic-regime", dest="synthetic_regime", choices=tuple(REGIMES), default=argparse.SUPPRESS,
        help="synthetic data: a named regime of frame size, clip length and cues (see synthetic.REGIMES)")
    add("--cache_dir", "--cache-dir", dest="cache_dir", metavar="DIR", default=argparse.SUPPRESS,
        help="frame-feature cache and synthetic videos (default ~/.cache/faceauth)")
    add("--seq_len", "--seq-len", dest="seq_len", type=int, default=argparse.SUPPRESS, help="frames per LSTM window (default 12)")
    add("--frame_stride", "--frame-stride", dest="frame_stride", type=int, default=argparse.SUPPRESS,
        help="take every n-th frame of the video into a window (default 2)")
    add("--hidden_size", "--hidden-size", dest="hidden_size", type=int, default=argparse.SUPPRESS, help="LSTM width (default 16)")
    add("--num_layers", "--num-layers", dest="num_layers", type=int, default=argparse.SUPPRESS, help="LSTM layers (default 1)")
    add("--bidirectional", action="store_true", default=argparse.SUPPRESS, help="a bidirectional LSTM")
    add("--dropout", type=float, default=argparse.SUPPRESS, help="dropout between LSTM layers and before the head (default 0.2)")
    add("--synthetic_per_class", "--synthetic-per-class", dest="synthetic_per_class", type=int, default=argparse.SUPPRESS,
        help="synthetic videos per class in train; val and test get half (default 24)")
    add("--synthetic_difficulty", "--synthetic-difficulty", dest="synthetic_difficulty", type=float,
        default=argparse.SUPPRESS, help="synthetic data: 0 obvious .. 1 subtle attack cues (default 0.7)")
    add("--output_dir", "--output-dir", dest="output_dir", metavar="DIR", default=argparse.SUPPRESS,
        help="where temporal_best.pth goes (default ./checkpoints)")


def deployment_info(checkpoint: dict[str, Any]) -> dict[str, Any]:
    args = checkpoint["model_args"]
    threshold = float(checkpoint["metrics"]["threshold"])
    logit = math.log(threshold / (1 - threshold)) if 0 < threshold < 1 else (math.inf if threshold >= 1 else -math.inf)
    span = (args["seq_len"] - 1) * args["frame_stride"] + 1
    return {
        "frame_extractor": args["frame_extractor"],
        "feature_size": args["feature_dim"],
        "input": f"features: float32 (batch, seq, {args['feature_dim']}): raw per-frame features of '{args['frame_extractor']}' "
                 "(faceauth.tasks.temporal.features), unscaled; the model standardises them itself",
        "seq_axis": f"time: consecutive sampled frames, oldest first; trained on windows of {args['seq_len']} frames taking "
                    f"every {args['frame_stride']}. frame ({span} frames of video); any length >= 1 runs",
        "output": "attack_logit: float32 (batch,); sigmoid(attack_logit) is the window's attack (spoof) probability, "
                  "higher = attack",
        "video_score": f"the mean of sigmoid(attack_logit) over the video's windows of {span} frames, overlapping by half, "
                       "the last ending at the video's end",
        "decision": f"attack when the video score >= {threshold:.6g}, the validation split's EER threshold",
        "seq_len": args["seq_len"],
        "frame_stride": args["frame_stride"],
        "threshold": threshold,
        "threshold_logit": logit,
    }


def check_data(config: TemporalConfig) -> str:
    splits = load_splits(config)
    hits = sum(s.cache_hits for s in splits.values())
    videos = sum(len(s) + len(s.skipped) for s in splits.values())
    extractor = next(iter(splits.values())).extractor
    test = f" (test from {config.test_data})" if config.test_data else ""
    return (f"{data_root(config)}{test}: " + "; ".join(f"{name} {split.summary()}" for name, split in splits.items())
            + f" (features {extractor}, {hits} of {videos} videos from the cache)")


def _smoke(config: TemporalConfig) -> dict[str, Any]:
    # 32 frames: enough for the longest window the search space samples (seq_len 12 x frame_stride 2).
    return {"epochs": 2, "max_steps_per_epoch": 2, "synthetic_per_class": 4, "synthetic_frames": 32,
            "synthetic_size": 32, "seq_len": 4, "frame_stride": 1, "hidden_size": 8, "batch_size": 8}


TASK = register(Task(
    name="temporal",
    description="temporal liveness: closed-form window statistics plus an LSTM residual over cached per-frame features of videos (ISO/IEC 30107-3 PAD metrics)",
    config_cls=TemporalConfig,
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
