"""Quality gate: on synthetic regimes the defaults were never tuned on, and whose static cues are weak
or absent (time carries the signal), the default temporal run must beat the time-blind baseline.
The default run is the closed-form head on window statistics plus the LSTM residual where that
beats the head on validation beyond the noise (train.py).

The defaults (TemporalConfig) were chosen on synthetic.TUNING_REGIMES only; this gate trains them on
every one of synthetic.HELD_OUT_REGIMES with two data seeds and compares test ACER, averaged over the
seeds, against `time_blind_logreg` (the same frame features averaged over the clip, logistic
regression, its own validation threshold), fitted on the same training videos. Minutes on 2 cores.
"""

import contextlib
import io

import numpy as np
import pytest

from faceauth.training.config import build_config
from faceauth.train import train_once
from faceauth.tasks import get_task
from faceauth.tasks.temporal.config import TemporalConfig
from faceauth.tasks.temporal.synthetic import HELD_OUT_REGIMES, regime_spec

SEEDS = (0, 1)
PER_CLASS = 60  # 120 training clips, as small as the smaller of the sets this is meant for


def time_carries_the_signal(regime: str) -> bool:
    return regime_spec(regime).static <= 0.15


@pytest.mark.slow
@pytest.mark.parametrize("regime", [r for r in HELD_OUT_REGIMES if time_carries_the_signal(r)])
def test_default_temporal_model_beats_the_time_blind_baseline_on_held_out_regimes(regime, tmp_path):
    task = get_task("temporal")
    model, blind = [], []
    for seed in SEEDS:
        config = build_config(TemporalConfig, {
            "synthetic": True, "synthetic_regime": regime, "synthetic_per_class": PER_CLASS, "data_seed": seed,
            "seed": seed, "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / f"out{seed}"),
            "log_dir": str(tmp_path / "logs")}, "gate config")
        with contextlib.redirect_stdout(io.StringIO()):
            checkpoint = train_once(task, config, verbose=False)["checkpoint"]
            evaluation = task.evaluate(checkpoint)
        model.append(evaluation.model_metrics["acer"])
        blind.append(evaluation.metrics["time_blind_logreg"]["acer"])
    assert np.mean(model) < np.mean(blind), f"{regime}: temporal model test ACER {model} vs time-blind {blind}"
