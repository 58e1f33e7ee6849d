"""Evaluate a liveness checkpoint on a test split at the operating threshold chosen on validation.

    python -m faceauth.evaluate --model_path checkpoints/liveness_best.pth --test_data /data/casia/test

`test_data` is a folder with live/ and spoof/ (a test split), or a data_root (its test/ is used);
without it, the test split of the data the checkpoint was trained on. The threshold is the val EER
threshold stored in the checkpoint's metrics (ISO/IEC 30107-3: APCER and BPCER at a threshold fixed
before the test data is seen); `eer` and `roc_auc` are threshold-free.
"""

from __future__ import annotations

from typing import Any

from faceauth.config import build_config
from faceauth.errors import FaceauthError
from faceauth.session import resolve_device
from faceauth.tasks.base import Evaluation
from faceauth.tasks.liveness.config import LivenessConfig
from faceauth.tasks.liveness.data import load_folders, load_splits, resolve_test_folder
from faceauth.tasks.liveness.train import attack_scores, build_model, split_metrics

SYSTEM = "liveness_resnet"


def evaluate_checkpoint(checkpoint: dict[str, Any], test_data: str | None = None) -> Evaluation:
    config = build_config(LivenessConfig, checkpoint["config"], "checkpoint config")
    if "threshold" not in checkpoint.get("metrics", {}):
        raise FaceauthError("the checkpoint holds no validation threshold (metrics.threshold); re-train it with faceauth.train")
    if test_data is None:
        split = load_splits(config, ("test",))["test"]
    else:
        split = load_folders({"test": resolve_test_folder(test_data)}, config)["test"]
    device = resolve_device("auto")
    model = build_model(checkpoint["model_args"])
    model.load_state_dict(checkpoint["state_dict"])
    scores = attack_scores(model.to(device).eval(), split.images, device)
    threshold = float(checkpoint["metrics"]["threshold"])
    metrics = split_metrics(split, scores, threshold)
    details = {
        "data": split.source,
        "bona_fide": int((~split.is_attack).sum()),
        "attacks": int(split.is_attack.sum()),
        "attack_types": ", ".join(f"{t} {n}" for t, n in split.type_counts().items()),
        "threshold": f"{threshold:.6g} (the validation EER threshold on the attack probability)",
        "skipped_images": len(split.skipped),
    }
    return Evaluation({SYSTEM: metrics}, {SYSTEM: (scores[split.is_attack], scores[~split.is_attack])}, details)
