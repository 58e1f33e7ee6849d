"""Hand-made cases for decisions a plausible one-character bug would flip without any other test
noticing (benchmarks/mutations.py plants those bugs and shows these tests catch them): which trial
is best, which side of the PAD threshold a score falls on, whether a range's upper end is searched."""

import numpy as np
import pytest
import yaml

from faceauth.evaluation.metrics import pad_metrics
from faceauth.tuning.best import TrialRecord, best_trial
from faceauth.tuning.space import load_search_space
from faceauth.tasks import get_task


def record(trial_id: str, best: float | None, checkpoint=object()) -> TrialRecord:
    return TrialRecord(trial_id=trial_id, name=trial_id, number=None, folder="", started_at=None, ended_at=None,
                       hyperparameters={}, status="completed", error=None, epochs_run=3, best=best,
                       last={}, wall_time_s=1.0, loop_time_s=1.0, checkpoint=checkpoint)


def test_the_best_trial_is_the_highest_for_max_and_the_lowest_for_min():
    records = [record("low", 0.2), record("high", 0.9), record("middle", 0.5), record("none", None),
               record("no-checkpoint", 0.99, checkpoint=None)]
    assert best_trial(records, "max").trial_id == "high"
    assert best_trial(records, "min").trial_id == "low"


def test_pad_decision_at_the_threshold_hand_computed():
    """Attack is the positive class: a score at the threshold counts as an attack detected (not an
    APCER error) and as a bona fide rejected (a BPCER error)."""
    attack = np.array([0.5, 0.9, 0.2, 0.7])  # 0.5 at the threshold: detected; 0.2: missed
    bonafide = np.array([0.1, 0.5, 0.3, 0.6])  # 0.5 at the threshold and 0.6 above: both rejected
    metrics = pad_metrics(attack, bonafide, threshold=0.5, attack_types=np.array(["print", "print", "replay", "replay"]))
    assert metrics["apcer"] == pytest.approx(1 / 4)
    assert metrics["bpcer"] == pytest.approx(2 / 4)
    assert metrics["acer"] == pytest.approx(3 / 8)
    assert metrics["apcer_print"] == 0.0 and metrics["apcer_replay"] == pytest.approx(0.5) and metrics["apcer_worst"] == 0.5


def searched_range(tmp_path, name: str, parameter: dict):
    """The distribution the search's Optuna sampler draws from, as the searcher samples the space."""
    import optuna

    from faceauth.tuning.space import SampleActive

    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"metric": "eer", "mode": "min", "parameters": {name: parameter}}))
    task = get_task("liveness")
    space = load_search_space(path, task.config_cls, task.metric_names)
    trial = optuna.create_study().ask()
    SampleActive(space)(trial)
    return trial.distributions[name]


@pytest.mark.parametrize("kind", ["int", "log_int"])
def test_an_integer_range_includes_its_upper_end(tmp_path, kind):
    """`high` is searched (Ray's lograndint and randint would exclude their upper end; Optuna's include it)."""
    distribution = searched_range(tmp_path, "epochs", {"type": kind, "low": 1, "high": 3})
    assert (distribution.low, distribution.high) == (1, 3)


@pytest.mark.parametrize("kind", ["float", "log_float"])
def test_a_float_range_keeps_its_bounds(tmp_path, kind):
    distribution = searched_range(tmp_path, "lr", {"type": kind, "low": 0.1, "high": 0.3})
    assert (distribution.low, distribution.high) == pytest.approx((0.1, 0.3))


@pytest.mark.parametrize("kind", ["int", "log_int"])
def test_optuna_distribution_of_an_integer_range_keeps_its_scale(tmp_path, kind):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"metric": "eer", "mode": "min",
                                    "parameters": {"epochs": {"type": kind, "low": 1, "high": 8}}}))
    task = get_task("liveness")
    distribution = load_search_space(path, task.config_cls, task.metric_names).optuna_distributions()["epochs"]
    assert (distribution.low, distribution.high, distribution.step) == (1, 8, 1)
    assert distribution.log == (kind == "log_int")


def tune_result(name: str, rows: list[dict], error: BaseException | None = None, config: dict | None = None):
    """What collect_trials reads of one Tune trial: its reported rows, its last result, its error."""
    from types import SimpleNamespace

    import pandas as pd

    return SimpleNamespace(metrics_dataframe=pd.DataFrame(rows) if rows else None, metrics=rows[-1] if rows else {},
                           error=error, path=f"/runs/s/{name}", config=config or {"lr": 0.01}, checkpoint=object(),
                           filesystem=None)


def test_a_trials_value_is_the_kept_models_not_the_best_epochs():
    from faceauth.tuning.best import collect_trials
    from faceauth.tuning.space import Parameter, SearchSpace

    space = SearchSpace("s.yaml", "eer", "min", {"lr": Parameter("lr", "log_float", low=1e-3, high=0.1)})
    kept = [{"epoch": 1, "eer": 0.3, "best_eer": 0.3}, {"epoch": 2, "eer": 0.2, "best_eer": 0.2},
            {"epoch": 3, "eer": 0.1, "best_eer": 0.2}]  # epoch 3 scored lower but within the noise: not kept
    plain = [{"epoch": 1, "eer": 0.3}, {"epoch": 2, "eer": 0.1}, {"epoch": 3, "eer": 0.2}]
    records = collect_trials([tune_result("fusion_0003", kept), tune_result("fusion_0004", plain)], space, epochs=3)
    assert [r.best for r in records] == [0.2, 0.1]
    assert [r.number for r in records] == [3, 4] and records[0].hyperparameters == {"lr": 0.01}
    as_max = collect_trials([tune_result("fusion_0004", plain)], SearchSpace("s.yaml", "eer", "max", space.parameters), 3)
    assert as_max[0].best == 0.3


def test_why_a_trial_ended_is_read_from_its_last_result():
    from faceauth.tuning.best import collect_trials
    from faceauth.tuning.space import SearchSpace

    space = SearchSpace("s.yaml", "eer", "min", {})
    cases = {
        "completed": [{"epoch": 1, "eer": 0.3}, {"epoch": 4, "eer": 0.2}],
        "completed early by its own flag": [{"epoch": 2, "eer": 0.2, "completed": True}],
        "early_stopped": [{"epoch": 2, "eer": 0.2, "early_stopped": True}],
        "stopped_by_scheduler": [{"epoch": 2, "eer": 0.2, "done": True}],
        "interrupted": [{"epoch": 2, "eer": 0.2}],
        "not_started": [],
    }
    records = collect_trials([tune_result(f"fusion_{i:04d}", rows) for i, rows in enumerate(cases.values())], space, epochs=4)
    records += collect_trials([tune_result("fusion_0009", [{"epoch": 1, "eer": 0.3}], error=RuntimeError(
        "ray wrapping\nFaceauthError: training loss became nan at epoch 1"))], space, epochs=4)
    assert [r.status for r in records] == ["completed", "completed", "early_stopped", "stopped_by_scheduler",
                                           "interrupted", "not_started", "failed"]
    assert records[-1].error == "FaceauthError: training loss became nan at epoch 1"
    assert [r.epochs_run for r in records[:2]] == [4, 2]
