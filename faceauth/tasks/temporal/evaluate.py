"""Evaluate a temporal checkpoint per video, at the operating threshold chosen on validation.

    python -m faceauth.evaluate --model-path checkpoints/temporal_best.pth --test-data /data/videos/test

`test_data` is a folder with live/ and spoof/ (a test split), or a data_root (its test/ is used);
without it, the test split of the data the checkpoint was trained on. The threshold is the val EER
threshold stored in the checkpoint's metrics (ISO/IEC 30107-3: APCER and BPCER at a threshold fixed
before the test data is seen); `eer` and `roc_auc` are threshold-free.

Beside the model, the time-blind baselines (baselines.py) are fitted on the checkpoint's training
videos and the same frame features, each thresholded at its own validation EER, and scored on the
same test videos: `groups` holds each score's video index, for bootstrap intervals over videos.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from faceauth.config import build_config
from faceauth.errors import FaceauthError
from faceauth.session import resolve_device
from faceauth.tasks.base import Evaluation
from faceauth.tasks.temporal.baselines import baseline_results
from faceauth.tasks.temporal.config import TemporalConfig
from faceauth.tasks.temporal.data import load_splits, window_starts
from faceauth.tasks.temporal.train import build_model, split_metrics, video_scores

SYSTEM = "temporal_model"


def evaluate_checkpoint(checkpoint: dict[str, Any], test_data: str | None = None) -> Evaluation:
    config = build_config(TemporalConfig, checkpoint["config"], "checkpoint config")
    if test_data is not None:
        config = replace(config, test_data=test_data)
    if "threshold" not in checkpoint.get("metrics", {}):
        raise FaceauthError("the checkpoint holds no validation threshold (metrics.threshold); re-train it with faceauth.train")
    splits = load_splits(config)
    videos = splits["test"]
    args = checkpoint["model_args"]
    if videos.extractor != args["frame_extractor"]:
        raise FaceauthError(f"the model was trained on features of '{args['frame_extractor']}', but its frame_extractor "
                            f"now gives '{videos.extractor}' (the checkpoint file changed?); evaluate with the same extractor")
    device = resolve_device("auto")
    model = build_model(args)
    model.load_state_dict(checkpoint["state_dict"])
    scores = video_scores(model.to(device).eval(), videos, args["seq_len"], args["frame_stride"], device)
    threshold = float(checkpoint["metrics"]["threshold"])
    span = (args["seq_len"] - 1) * args["frame_stride"] + 1
    details = {
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
    metrics = {SYSTEM: split_metrics(videos, scores, threshold)}
    system_scores = {SYSTEM: (scores[videos.is_attack], scores[~videos.is_attack])}
    train, val = splits["train"], splits["val"]
    for name, (baseline, baseline_scores) in baseline_results(
            train.features, train.is_attack, val.features, val.is_attack, videos.features, videos.is_attack,
            videos.attack_type_labels()).items():
        metrics[name] = baseline
        system_scores[name] = (baseline_scores[videos.is_attack], baseline_scores[~videos.is_attack])
    details["baselines"] = ("time_blind_logreg: frame features averaged over the clip, logistic regression; "
                            "frame_score_average: a per-frame logistic regression's scores averaged over the clip; "
                            f"fitted on the same {len(train)} training videos, each at its own validation EER threshold")
    groups = (np.flatnonzero(videos.is_attack), np.flatnonzero(~videos.is_attack))
    return Evaluation(metrics, system_scores, details, groups)
