"""The fusion residual holds its ground: trained epochs never fall below the closed-form start beyond
the noise of the validation identities.

The data: the `dominant` regime (one strong model, two weak ones, a shared per-image error) at 128
dimensions per model, so that the test takes seconds. Unbounded (residual_bound 0, the trainer
before the bound), the residual MLP outgrew the unit linear embedding in the first epoch and the
validation TAR at FAR=1e-3 fell from 0.81 to 0.30, 0.32, 0.58, 0.48, 0.55 (margin 0.11) while the
training loss fell; at full size (512 per model) from 0.995 to 0.02 (benchmarks/residual_epochs.py).
The margin is the half-width of the start's own 95% bootstrap interval over validation identities
(what another draw of validation identities could show), at least one point.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from faceauth.evaluation.result import Evaluation
from faceauth.evaluation.metrics import verification_metrics
from faceauth.io.runlog import seed_everything
from faceauth.training.session import LocalSession, use_session
from faceauth.tasks import get_task
from faceauth.tasks.fusion import synthetic
from faceauth.tasks.fusion.training import pair_groups
from faceauth.evaluation.verdict import metric_intervals

METRIC = "tar_at_far_1e-3"
DOMINANT = synthetic.REGIMES["dominant"]
SMALL = replace(DOMINANT, name="dominant_128", models=tuple(replace(m, dim=128) for m in DOMINANT.models))


@pytest.fixture(autouse=True)
def small_regime(monkeypatch):
    monkeypatch.setitem(synthetic.REGIMES, SMALL.name, SMALL)


def noise_margin(scores: tuple[np.ndarray, np.ndarray], groups) -> float:
    evaluation = Evaluation({"start": {}}, {"start": scores}, groups=groups)
    low, high = metric_intervals(evaluation, [METRIC], resamples=200)["start"][METRIC]
    return max((high - low) / 2, 0.01)


def epoch_metrics(tmp_path, epochs: int, **overrides) -> tuple[list[float], float]:
    """Validation TAR at FAR=1e-3 of the start (epoch 0) and each trained epoch, and the start's margin."""
    from faceauth.tasks.fusion.data import load_splits, verification_pairs
    from faceauth.tasks.fusion.model import embed, pair_scores

    task = get_task("fusion")
    cfg = task.config({"synthetic": True, "synthetic_regime": SMALL.name, "num_identities": 120, "samples_per_id": 10,
                       "hidden_sizes": [128], "out_dim": 128, "epochs": max(epochs, 1), "log_dir": str(tmp_path / "logs"), "output": str(tmp_path / "m.pth"), **overrides})
    session = LocalSession()
    with use_session(session):
        seed_everything(cfg.seed)
        run = task.prepare(cfg, session)
        val = load_splits(cfg)["val"]
        pairs = verification_pairs(val.labels, cfg.max_impostor_pairs, cfg.data_seed)
        first, second, genuine = pairs

        def scores():
            run.model.eval()
            s = pair_scores(embed(run.model, val.embeddings, torch.device("cpu")), first, second)
            return s[genuine], s[~genuine]

        start = scores()
        margin = noise_margin(start, pair_groups(val.labels, pairs))
        values = [verification_metrics(*start)[METRIC]]
        for epoch in range(1, epochs + 1):
            run.model.train()
            run.train_epoch(epoch)
            values.append(verification_metrics(*scores())[METRIC])
    return values, margin


def test_residual_epochs_stay_within_the_noise_of_the_start(tmp_path):
    values, margin = epoch_metrics(tmp_path, 5)
    assert min(values[1:]) >= values[0] - margin, (values, margin)


def test_epoch_zero_is_the_linear_start_exactly(tmp_path):
    """The bound leaves the start as it was: a residual of zero stays zero."""
    bounded, _ = epoch_metrics(tmp_path, 0)
    unbounded, _ = epoch_metrics(tmp_path, 0, residual_bound=0.0)
    assert bounded == unbounded
