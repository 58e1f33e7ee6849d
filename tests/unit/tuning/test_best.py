"""After the search (faceauth.tuning.best), on hand-made trial results and no Ray started: each trial's
record (how it ended, its best and kept figures, its times and hyperparameters), the reason shown for a
failed trial, trials.parquet, which checkpoints are pruned, and metrics.json's fields."""

import datetime as dt
import math
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceauth.evaluation.result import Evaluation
from faceauth.io.errors import FaceauthError
from faceauth.tuning.best import BestResult, best_trial, collect_trials, prune_checkpoints, reason_line, write_trials_table
from faceauth.tuning.space import Parameter, SearchSpace

METRIC = "tar_at_far_1e-3"
SPACE = SearchSpace(path="fusion.yaml", metric=METRIC, mode="max",
                    parameters={"lr": Parameter("lr", "log_float", 1e-4, 1e-2),
                                "hidden_sizes": Parameter("hidden_sizes", "categorical", choices=([32], [64, 32]))})
CONFIG = {"lr": 0.001, "hidden_sizes": "[64, 32]", "seed": 3}
CHECKPOINT = object()


def _result(name, rows, last=None, error=None, checkpoint=CHECKPOINT):
    return SimpleNamespace(metrics_dataframe=pd.DataFrame(rows) if rows else None, metrics=last if last is not None else
                           (rows[-1] if rows else {}), error=error, path=f"/runs/search/{name}", config=CONFIG,
                           checkpoint=checkpoint)


# Epoch 1 is kept (0.7); epoch 2 and 3 train on without beating it.
KEPT_ROWS = [
    {"epoch": 0, METRIC: 0.5, f"best_{METRIC}": 0.5, "kept_epoch": 0, "params": 100},
    {"epoch": 1, METRIC: 0.7, f"best_{METRIC}": 0.7, "kept_epoch": 1, "params": 100, "onnx_latency_ms": 1.5},
    {"epoch": 2, METRIC: 0.65, f"best_{METRIC}": 0.7, "kept_epoch": 1, "params": 100},
    {"epoch": 3, METRIC: 0.68, f"best_{METRIC}": 0.7, "kept_epoch": 1, "params": 100, "completed": True},
]
KEPT_LAST = {**KEPT_ROWS[-1], "trial_id": "t2", "timestamp": 1_700_000_100, "time_total_s": 40.4, "loop_time_s": 30.0,
             "done": True, "cached": True, "node_ip": "10.0.0.2", "training_iteration": 4}


def test_a_completed_trial_keeps_the_figures_of_its_kept_epoch():
    [record] = collect_trials([_result("fusion_0002", KEPT_ROWS, KEPT_LAST)], SPACE, epochs=3)
    assert (record.trial_id, record.name, record.number, record.folder) == ("t2", "fusion_0002", 2, "/runs/search/fusion_0002")
    assert record.status == "completed" and record.error is None and record.epochs_run == 3
    assert record.best == 0.7 and record.best_trained == 0.7  # trained epochs: 0.7, 0.65, 0.68
    assert record.kept == {"epoch": 1, METRIC: 0.7, f"best_{METRIC}": 0.7, "kept_epoch": 1, "params": 100,
                           "onnx_latency_ms": 1.5}
    assert record.hyperparameters == {"lr": 0.001, "hidden_sizes": [64, 32]}  # decoded; seed is not searched
    # Times: Ray stamps whole seconds; 1_700_000_100 - 40.4 rounds to 1_700_000_060.
    assert record.ended_at == dt.datetime(2023, 11, 14, 22, 15, tzinfo=dt.timezone.utc)
    assert record.started_at == record.ended_at - dt.timedelta(seconds=40)
    assert (record.wall_time_s, record.loop_time_s) == (40.4, 30.0)
    assert "cached" not in record.last and "node_ip" not in record.last and record.last["training_iteration"] == 4
    assert record.checkpoint is CHECKPOINT


def test_a_trial_that_kept_its_start_has_its_start_as_best_and_its_trained_best_apart():
    rows = [{"epoch": 0, METRIC: 0.8, f"best_{METRIC}": 0.8, "kept_epoch": 0},
            {"epoch": 1, METRIC: 0.81, f"best_{METRIC}": 0.8, "kept_epoch": 0}]
    [record] = collect_trials([_result("fusion_0000", rows)], SPACE, epochs=3)
    assert record.best == 0.8 and record.best_trained == 0.81 and record.kept[METRIC] == 0.8
    assert record.status == "interrupted"  # neither completed, stopped nor done: the search ended under it


def test_how_each_trial_ended():
    one = {"epoch": 1, METRIC: 0.6}
    results = [_result("fusion_0001", [one], {**one, "early_stopped": True}),
               _result("fusion_0003", [one], {**one, "done": True}),
               _result("fusion_0004", [], checkpoint=None),
               _result("fusion_0005", [one], error=RuntimeError(
                   "Traceback (most recent call last):\n  File x\nfaceauth.io.errors.FaceauthError: the data folder is empty\n"
                   "\nThe above exception was the direct cause of:\nray.exceptions.RayTaskError"))]
    records = {r.name: r for r in collect_trials(results, SPACE, epochs=3)}
    assert {name: r.status for name, r in records.items()} == {
        "fusion_0001": "early_stopped", "fusion_0003": "stopped_by_scheduler", "fusion_0004": "not_started",
        "fusion_0005": "failed"}
    assert records["fusion_0005"].error == "faceauth.io.errors.FaceauthError: the data folder is empty"
    unstarted = records["fusion_0004"]
    assert (unstarted.trial_id, unstarted.best, unstarted.epochs_run, unstarted.started_at, unstarted.checkpoint) == (
        "fusion_0004", None, 0, None, None)
    # A trainer that reports no best_<metric>: the best of its epochs, NaN left out.
    rows = [{"epoch": 1, METRIC: 0.4}, {"epoch": 2, METRIC: math.nan}, {"epoch": 3, METRIC: 0.3}]
    assert collect_trials([_result("fusion_0006", rows)], SPACE, epochs=3)[0].best == 0.4
    low = SearchSpace(path="s.yaml", metric=METRIC, mode="min", parameters=SPACE.parameters)
    assert collect_trials([_result("fusion_0006", rows)], low, epochs=3)[0].best == 0.3


def test_the_reason_shown_is_ours_not_rays_traceback():
    assert reason_line("Traceback\n  ...\nfaceauth.io.errors.FaceauthError: bad file x.png\n\nray.exceptions.RayTaskError(...)") \
        == "faceauth.io.errors.FaceauthError: bad file x.png"
    assert reason_line("a\nTrainingDiverged: loss is nan at epoch 2\nb") == "TrainingDiverged: loss is nan at epoch 2"
    assert reason_line("  first\n  last line  \n\n") == "last line" and reason_line("") == ""
    [record] = collect_trials([_result("fusion_0007", [{"epoch": 1}], error=MemoryError())], SPACE, epochs=3)
    assert record.error == "MemoryError"  # an error without a message: its type


def test_trials_parquet_has_a_row_a_trial_in_number_order(tmp_path):
    results = [_result("fusion_0002", KEPT_ROWS, KEPT_LAST), _result("fusion_0004", [], checkpoint=None),
               _result("fusion_0001", [{"epoch": 1, METRIC: 0.6}], error=RuntimeError("FaceauthError: no data"))]
    records = collect_trials(results, SPACE, epochs=3)
    path = write_trials_table(records, METRIC, tmp_path / "trials.parquet", extra={"t2": {"feasible": True}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.parquet"]
    table = pq.read_table(path)
    rows = table.to_pylist()
    assert [r["trial_name"] for r in rows] == ["fusion_0001", "fusion_0002", "fusion_0004"]
    assert [r["status"] for r in rows] == ["failed", "completed", "not_started"]
    assert [r["error"] for r in rows] == ["FaceauthError: no data", None, None]
    kept = rows[1]
    assert (kept[f"best_{METRIC}"], kept["onnx_latency_ms"], kept["params"], kept["onnx_bytes"]) == (0.7, 1.5, 100, None)
    assert (kept["param_lr"], kept["param_hidden_sizes"]) == (0.001, "[64, 32]")  # a list as its JSON
    assert kept["last_" + METRIC] == 0.68 and kept["feasible"] is True and rows[0]["feasible"] is None
    assert not any(c in table.column_names for c in ("last_time_total_s", "last_training_iteration", "last_loop_time_s",
                                                     "last_timestamp", "last_done"))
    assert kept["ended_at"] == dt.datetime(2023, 11, 14, 22, 15, tzinfo=dt.timezone.utc)
    assert table.schema.field("trial_number").type == pa.int64() and table.schema.field("error").type == pa.string()
    assert str(table.schema.field("started_at").type) == "timestamp[us, tz=UTC]"


class _Storage:
    def __init__(self, refuses=()):
        self.deleted, self.refuses = [], set(refuses)

    def delete_dir(self, path):
        if path in self.refuses:
            raise FileNotFoundError(path)
        self.deleted.append(path)


def test_only_the_best_trials_checkpoint_is_kept():
    storage = _Storage(refuses={"/runs/b/checkpoint"})
    records = collect_trials([_result(f"fusion_000{i}", [{"epoch": 1, METRIC: v}],
                                      checkpoint=SimpleNamespace(path=f"/runs/{n}/checkpoint", filesystem=storage))
                              for i, (n, v) in enumerate((("a", 0.2), ("b", 0.3), ("c", 0.9), ("d", 0.5)))], SPACE, 3)
    records.append(collect_trials([_result("fusion_0009", [], checkpoint=None)], SPACE, 3)[0])
    best = best_trial(records, "max")
    assert best.name == "fusion_0002"
    prune_checkpoints(records, best)  # b was already gone: no error
    assert storage.deleted == ["/runs/a/checkpoint", "/runs/d/checkpoint"]


def test_no_trial_with_a_checkpoint_is_an_error_pointing_to_the_table():
    records = collect_trials([_result("fusion_0000", [{"epoch": 1, METRIC: 0.9}], checkpoint=None)], SPACE, 3)
    with pytest.raises(FaceauthError, match="^no trial reported a result with a checkpoint; see trials.parquet"):
        best_trial(records, "max")


def _best(**fields) -> BestResult:
    values = dict(task="fusion", kind="verification", verdict=None, trial_id="t2", trial_name="fusion_0002",
                  hyperparameters={"lr": 0.001}, metric=METRIC, mode="max", best_epoch=1, val={METRIC: 0.7},
                  test={METRIC: 0.66}, test_baselines={}, test_data={"pairs": 40}, onnx={"path": "model.onnx"},
                  deployment={"threshold": 0.3}, search={"trials": 4}, versions={"torch": "2"},
                  evaluation=Evaluation({"model": {}}, {"model": ([0.9], [0.1])}))
    return BestResult(**{**values, **fields})


def test_metrics_json_leaves_out_the_scores_and_adds_only_what_a_search_had():
    plain = _best().metrics_json()
    assert list(plain) == ["task", "verdict", "trial_id", "trial_name", "hyperparameters", "metric", "mode", "best_epoch",
                           "val", "val_data", "test", "test_baselines", "test_data", "onnx", "deployment", "search", "versions"]
    assert plain["val_data"].startswith("validation identities/samples")
    full = _best(cost={"params": 100.0}, protocol={"protocol": "oulu-1", "folds": 2}, extra={"pareto_optimal": True},
                 evaluation=Evaluation({"model": {}}, {"model": ([0.9], [0.1])}, benchmarks={"lfw": {"eer": 0.1}})).metrics_json()
    assert (full["cost"], full["protocol"], full["folds"], full["benchmarks"], full["pareto_optimal"]) == (
        {"params": 100.0}, "oulu-1", 2, {"lfw": {"eer": 0.1}}, True)
