"""The fusion quality gate, on the default synthetic data (slow: a full default training run)."""

import pytest

from faceauth.cli import resolve_config
from faceauth.pipeline import train_once
from faceauth.tasks import get_task


@pytest.mark.slow
def test_default_fusion_beats_both_averaging_baselines_on_test_identities(tmp_path):
    task = get_task("fusion")
    config = resolve_config(task, None, {"synthetic": True, "epochs": 30, "log_dir": str(tmp_path),
                                         "output": str(tmp_path / "m.pth")})
    result = train_once(task, config, verbose=False)
    metrics = task.evaluate(result["checkpoint"], None).metrics
    fused = metrics["fused"]["tar_at_far_1e-3"]
    assert fused >= metrics["score_average"]["tar_at_far_1e-3"] + 0.03
    assert fused >= metrics["embedding_average"]["tar_at_far_1e-3"] + 0.03
