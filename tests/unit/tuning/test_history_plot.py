"""The report's history plot: trials numbered as their names are, and a zoom that keeps the best and
the median trial in view."""

from pathlib import Path

import numpy as np

from faceauth.tuning.best import TrialRecord
from faceauth.tuning.report import _name_index, _near_best, plot_history
from faceauth.tuning.space import load_search_space
from faceauth.tasks import get_task


def record(name: str, number: int, best: float, trained: float | None) -> TrialRecord:
    return TrialRecord(trial_id=name, name=name, number=number, folder="", started_at=None, ended_at=None,
                       hyperparameters={}, status="completed", error=None, epochs_run=3, best=best, last={},
                       wall_time_s=1.0, loop_time_s=1.0, checkpoint=None, best_trained=trained)


def test_trials_are_numbered_as_their_names_not_as_optuna_numbers():
    # fusion_0002 was Optuna's trial 5: three suggestions between were answered from the study.
    assert _name_index(record("fusion_0002", 5, 0.8, None), 9) == 2
    assert _name_index(record("custom", 5, 0.8, None), 9) == 9


def test_the_zoom_spans_the_median_to_the_best_at_least_a_point_wide():
    kept = np.array([0.62, 0.839, 0.839, 0.839, 0.858])
    low, high = _near_best(kept, kept, "max")
    assert low < 0.839 < 0.858 < high and high - low < 0.05
    low, high = _near_best(np.array([0.5, 0.5]), np.array([0.5, 0.5]), "max")
    assert high - low >= 0.01 and low < 0.5 <= high
    low, high = _near_best(np.array([0.10, 0.02, 0.30]), np.array([0.10, 0.02, 0.30]), "min")  # eer: lower is better
    assert low < 0.02 and 0.10 < high < 0.3


def test_the_plot_is_written_for_tied_and_trained_trials(tmp_path):
    task = get_task("fusion")
    space = load_search_space(Path(__file__).resolve().parents[3] / "faceauth" / "search_spaces" / "fusion.yaml", task.config_cls, task.metric_names)
    records = [record(f"fusion_{i:04d}", 2 * i, 0.839 if i else 0.62, None if i < 2 else 0.84 + i / 1000) for i in range(8)]
    path = plot_history(records, space, tmp_path / "history.png")
    assert path.stat().st_size > 10_000


def test_a_search_whose_trials_tie_at_the_metrics_limit_says_so_and_names_a_telling_metric():
    from faceauth.tuning.report import saturation_warning

    task = get_task("liveness")
    space = load_search_space(Path(__file__).resolve().parents[3] / "faceauth" / "search_spaces" / "liveness.yaml",
                              task.config_cls, task.metric_names)
    records = [record(f"liveness_{i:04d}", i, 0.0, None) for i in range(5)]
    for i, r in enumerate(records):
        r.kept.update({"eer": 0.0, "bpcer_at_apcer_1pct": 0.1 * i, "acer": 0.0})
    text = saturation_warning(records, space, task.metric_names)
    assert text.startswith("WARNING: 5 of 5 trials kept validation eer 0.0000 (the metric's limit)")
    assert "--objective bpcer_at_apcer_1pct:min" in text
    for r in records:
        r.kept["bpcer_at_apcer_1pct"] = 0.0
    assert "No metric the trials report tells them apart" in saturation_warning(records, space, task.metric_names)
    for r in records[:3]:  # three of five at one model's value, not the limit: still no way to tell them apart
        r.best = 0.2
    text = saturation_warning(records, space, task.metric_names)
    assert text.startswith("WARNING: 3 of 5 trials kept validation eer 0.2000 (one value)")
    assert "arbitrary" not in text  # the pick (eer 0.0) is not among the tied trials
    for r, value in zip(records, (0.2, 0.25, 0.3)):  # most trials differ: no warning
        r.best = value
    assert saturation_warning(records, space, task.metric_names) is None
