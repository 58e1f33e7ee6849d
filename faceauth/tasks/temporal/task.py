"""The temporal liveness task: a closed-form head on window statistics of cached per-frame features,
plus an LSTM residual, scores videos as bona fide or attack.

    python -m faceauth.train temporal --synthetic --epochs 20
    python -m faceauth.evaluate --model-path checkpoints/temporal_best.pth --test-data /data/videos/test

Training: training.py. Evaluation (faceauth.tasks.pad): per video at the validation EER threshold,
beside the time-blind baselines (baselines.py) fitted on the checkpoint's training videos and the same
frame features, each thresholded at its own validation EER, scored on the same test videos; `groups`
holds each score's video index, for bootstrap intervals over videos.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from faceauth.training import session as sessions
from faceauth.io.errors import FaceauthError
from faceauth.tasks import register
from faceauth.tasks.base import DataOption, OnnxSpec, TrainingRun
from faceauth.tasks.lbp_baseline import video_lbp_features
from faceauth.tasks.pad import PresentationAttackTask, pad_flags, threshold_logit, threshold_warning
from faceauth.tasks.temporal import training
from faceauth.tasks.temporal.baselines import baseline_results
from faceauth.tasks.temporal.synthetic import REGIMES as TEMPORAL_REGIMES
from faceauth.tasks.temporal.config import FRAME_FEATURES, TemporalConfig
from faceauth.tasks.temporal.data import VideoSet, data_root, load_splits, window_starts
from faceauth.tasks.temporal.model import TemporalModel, build_model, video_scores
from faceauth.tasks.temporal.synthetic import REGIMES


@register
class TemporalTask(PresentationAttackTask):
    name = "temporal"
    description = ("temporal liveness: closed-form window statistics plus an LSTM residual over cached per-frame "
                   "features of videos (ISO/IEC 30107-3 PAD metrics)")
    config_cls = TemporalConfig
    system = "temporal_model"
    # 32 frames: enough for the longest window the search space samples (seq_len 12 x frame_stride 2).
    smoke = {"epochs": 2, "max_steps_per_epoch": 2, "synthetic_per_class": 4, "synthetic_frames": 32,
             "synthetic_size": 32, "seq_len": 4, "frame_stride": 1, "hidden_size": 8, "batch_size": 8}
    generator_help = "face video clips, live and spoof (print, replay)"
    generator_out_dir = "a new (or empty) folder for {train,val,test}/{live,spoof}/"
    generator_options = {
        "per_class": DataOption(int, 24, "videos per class in train; val and test get half"),
        "frames": DataOption(int, None, "frames per video (default 32, or the regime's)"),
        "size": DataOption(int, None, "side of the square frames in pixels (default 64, or the regime's)"),
        "difficulty": DataOption(float, None, "0: obvious attack cues .. 1: subtle (default 0.7, or the regime's)"),
        "seed": DataOption(int, 0, "the generator's seed"),
        "regime": DataOption(str, None, "a named regime: sets frames, size, difficulty and the cues (the options "
                             "below still override it)", tuple(TEMPORAL_REGIMES)),
        "static_cue": DataOption(float, None, "static attack cues (moire, halftone, colour): 0 none .. 1 obvious "
                                 "(default 1 - 0.8 x difficulty)"),
        "blink_rate": DataOption(float, None, "blinks per 24 frames (default 1.5)"),
        "shake": DataOption(float, None, "hand and camera motion scale (default 1)"),
        "light_drift": DataOption(float, None, "slow exposure / white-balance drift amplitude (default 0)"),
    }
    flags = {
        **pad_flags("videos", "one frame folder or video file per video", 24, 0.7, "frame-feature cache",
                    "temporal_best.pth"),
        "skip_invalid": {"help": "skip (and list) unreadable, too short or mixed-size videos instead of stopping"},
        "test_data": {"metavar": "DIR", "help": "test videos (a folder with live/ and spoof/, or a data root holding "
                                                "test/); then no test split is read from the training data"},
        "frame_features": {"choices": FRAME_FEATURES, "help": "per-frame features: texture (default), handcrafted, or "
                                                              "checkpoint (with --frame-extractor)"},
        "frame_extractor": {"metavar": "CHECKPOINT", "help": "per-frame features from this checkpoint's frozen model "
                                                             "(e.g. a liveness model.pt): frame_features checkpoint"},
        "synthetic_regime": {"choices": tuple(REGIMES), "help": "synthetic data: a named regime of frame size, clip "
                                                                "length and cues (see synthetic.REGIMES)"},
        "seq_len": {"help": "frames per LSTM window (default 12)"},
        "frame_stride": {"help": "take every n-th frame of the video into a window (default 2)"},
        "hidden_size": {"help": "LSTM width (default 16)"},
        "num_layers": {"help": "LSTM layers (default 1)"},
        "bidirectional": {"help": "a bidirectional LSTM"},
        "dropout": {"help": "dropout between LSTM layers and before the head (default 0.2)"},
    }

    def prepare(self, config: TemporalConfig, session: sessions.Session) -> TrainingRun:
        return training.prepare(config, session)

    def build_model(self, model_args: dict[str, Any]) -> TemporalModel:
        return build_model(model_args)

    def test_split(self, config: TemporalConfig, checkpoint: Mapping[str, Any],
                   test_data: str | None, split_name: str = "test") -> tuple[VideoSet, dict[str, VideoSet]]:
        if test_data is not None:
            config = replace(config, test_data=test_data)
        splits = load_splits(config)
        videos, expected = splits[split_name], checkpoint["model_args"]["frame_extractor"]
        if videos.extractor != expected:
            raise FaceauthError(f"the model was trained on features of '{expected}', but its frame_extractor now gives "
                                f"'{videos.extractor}' (the checkpoint file changed?); evaluate with the same extractor")
        return videos, splits

    def attack_scores(self, model: torch.nn.Module, split: VideoSet, model_args: dict[str, Any],
                      device: torch.device) -> np.ndarray:
        return video_scores(model, split, model_args["seq_len"], model_args["frame_stride"], device)

    def test_details(self, checkpoint: Mapping[str, Any], videos: VideoSet, threshold: float) -> dict[str, Any]:
        args = checkpoint["model_args"]
        span = (args["seq_len"] - 1) * args["frame_stride"] + 1
        return {
            "data": videos.source,
            "videos": videos.summary(),
            "bona_fide_videos": int((~videos.is_attack).sum()),
            "attack_videos": int(videos.is_attack.sum()),
            "windows": int(sum(len(window_starts(len(f), span)) for f in videos.features)),
            "video_score": "mean attack probability of the video's half-overlapping windows",
            "threshold": f"{threshold:.6g} (the validation EER threshold on the video score)",
            "frame_extractor": videos.extractor,
            "temporal_kind": args["kind"],
            "lstm_residual": ("kept: it beat the closed-form head on validation at epoch " + str(checkpoint["epoch"])
                              if args["kind"] == "lstm" and checkpoint["epoch"] > 0 else
                              "not kept: it did not beat the closed-form head on validation beyond the noise"
                              if args["kind"] == "lstm" else "none"),
            "clip_head": args.get("clip_head", {}),
            "skipped_videos": len(videos.skipped),
        }

    def baselines(self, videos: VideoSet, splits: dict[str, VideoSet]):
        train, val = splits["train"], splits["val"]
        results = baseline_results(train.features, train.is_attack, val.features, val.is_attack, videos.features,
                                   videos.is_attack, videos.attack_type_labels())
        return results, ("time_blind_logreg: frame features averaged over the clip, logistic regression; "
                         "frame_score_average: a per-frame logistic regression's scores averaged over the clip; "
                         f"fitted on the same {len(train)} training videos, each at its own validation EER threshold")

    def lbp_features(self, config: TemporalConfig, videos: VideoSet, splits: dict[str, VideoSet]) -> tuple[np.ndarray, ...]:
        return tuple(x for s in (splits["train"], splits["val"], videos)
                     for x in (video_lbp_features(s.paths, s.is_attack, config.cache_dir), s.is_attack))

    def protocol_data(self, config: TemporalConfig):
        return data_root(config)

    def score_groups(self, videos: VideoSet) -> tuple[np.ndarray, np.ndarray]:
        return np.flatnonzero(videos.is_attack), np.flatnonzero(~videos.is_attack)

    def onnx_spec(self, model_args: dict[str, Any]) -> OnnxSpec:
        # The example's sequence is at least 2 long: torch.export treats a size-1 axis as fixed.
        seq = max(2, model_args["seq_len"])
        return OnnxSpec(
            input_names=("features",),
            output_names=("attack_logit",),
            dynamic_axes={"features": {0: "batch", 1: "seq"}},
            example_inputs=lambda batch, check: (torch.randn(batch, seq + 3 if check else seq, model_args["feature_dim"]),),
        )

    def check_data(self, config: TemporalConfig) -> str:
        splits = load_splits(config)
        hits = sum(s.cache_hits for s in splits.values())
        videos = sum(len(s) + len(s.skipped) for s in splits.values())
        extractor = next(iter(splits.values())).extractor
        test = f" (test from {config.test_data})" if config.test_data else ""
        return (f"{data_root(config)}{test}: " + "; ".join(f"{name} {split.summary()}" for name, split in splits.items())
                + f" (features {extractor}, {hits} of {videos} videos from the cache)")

    def deployment_info(self, checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        args = checkpoint["model_args"]
        threshold = float(checkpoint["metrics"]["threshold"])
        span = (args["seq_len"] - 1) * args["frame_stride"] + 1
        return {
            "frame_extractor": args["frame_extractor"],
            "feature_size": args["feature_dim"],
            "input": f"features: float32 (batch, seq, {args['feature_dim']}): raw per-frame features of "
                     f"'{args['frame_extractor']}' (faceauth.tasks.temporal.features), unscaled; the model standardises them itself",
            "seq_axis": f"time: consecutive sampled frames, oldest first; trained on windows of {args['seq_len']} frames "
                        f"taking every {args['frame_stride']}. frame ({span} frames of video); any length >= 1 runs",
            "output": "attack_logit: float32 (batch,); sigmoid(attack_logit) is the window's attack (spoof) probability, "
                      "higher = attack",
            "video_score": f"the mean of sigmoid(attack_logit) over the video's windows of {span} frames, overlapping by "
                           "half, the last ending at the video's end",
            "decision": f"attack when the video score >= {threshold:.6g}, the validation split's EER threshold",
            "seq_len": args["seq_len"],
            "frame_stride": args["frame_stride"],
            "threshold": threshold,
            "threshold_logit": threshold_logit(threshold),
            **threshold_warning(checkpoint),
        }

    def write_synthetic(self, out_dir: str, options: Mapping[str, Any]) -> list[Path]:
        from faceauth.tasks.temporal.synthetic import write_from_options

        return [write_from_options(out_dir, options)]
