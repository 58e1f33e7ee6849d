"""Shared fixtures: small configs, real files under tmp_path, one real local Ray per session."""

from __future__ import annotations

import os

import pytest

# Ray's start-up and Train's control loop tuned for a 2-core machine (see RAY_NOTES.md).
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
os.environ.setdefault("RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


@pytest.fixture
def small_fusion(tmp_path):
    """A fusion config small enough for a test: 30 identities x 6 samples, 2 epochs."""
    return {
        "synthetic": True, "num_identities": 30, "samples_per_id": 6, "embedding_dim": 32,
        "hidden_sizes": [32], "out_dim": 32, "epochs": 2, "batch_size": 16, "max_impostor_pairs": 2000,
        "log_dir": str(tmp_path / "logs"), "output": str(tmp_path / "fusion.pth"),
    }
