"""A search for the model that ships, against a real local Ray: two objectives, a constraint,
pareto/, a feasible best/ and the operating point in metrics.json and the ONNX metadata."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import yaml

from faceauth.tuning.result import STUDY_FILE, load_study
from faceauth.tuning.searcher import ObjectivesSearch
from tests.run_readers import results_of, trials

# width 8 x depth 10 has ~78k parameters, width 32 ~1.2M: the constraint below splits them.
PARAMS_BOUND = 500_000


def _space(tmp_path):
    path = tmp_path / "liveness_mo.yaml"
    path.write_text(yaml.safe_dump({
        "objectives": ["eer:min", "onnx_latency_ms:min"],
        "parameters": {"width": {"type": "categorical", "choices": [8, 32], "default": 32},
                       "lr": {"type": "log_float", "low": 1e-3, "high": 1e-2}},
        "fixed": {"depth": 10, "image_size": 32}}))
    return str(path)


def _liveness(tmp_path, tune, name, *extra):
    return tune.run(name, "--search-space", _space(tmp_path), "--trials", "4", *extra, task="liveness")


@pytest.mark.usefixtures("shared_ray")
def test_a_two_objective_search_with_a_constraint_ships_a_feasible_model(tmp_path, tune):
    assert _liveness(tmp_path, tune, "mo", "--constraint", f"params<={PARAMS_BOUND}", "--target-apcer", "0.1") == 0
    run = tmp_path / "runs" / "mo"
    rows = trials(run)
    assert len(rows) == 4
    for row in rows:  # every trial measured its model, whatever ended it
        assert row["onnx_latency_ms"] > 0 and row["params"] > 0 and row["onnx_bytes"] > 1000
        assert row["feasible"] == (row["params"] <= PARAMS_BOUND)
    assert any(not r["feasible"] for r in rows), "the default point (width 32) should break the constraint"
    picked = [r for r in rows if r["picked"]]
    assert len(picked) == 1 and picked[0]["feasible"] and picked[0]["pareto"]
    feasible = [r for r in rows if r["feasible"]]
    assert picked[0]["objective_eer"] == min(r["objective_eer"] for r in feasible)

    # The searcher's study: every trial told both objectives and its constraint, ASHA-stopped ones too.
    searcher = ObjectivesSearch.__new__(ObjectivesSearch)
    searcher.restore_from_dir(str(run))
    told = [t for t in searcher._ot_study.trials if t.state.name == "COMPLETE"]
    assert len(told) == 4 and all(len(t.values) == 2 for t in told)
    by_latency = {round(r["onnx_latency_ms"], 9): r for r in rows}
    for t in told:
        row = by_latency[round(t.values[1], 9)]
        assert t.values[0] == pytest.approx(row["objective_eer"])
        assert t.constraints[f"params<={PARAMS_BOUND}"] == pytest.approx(row["params"] - PARAMS_BOUND)
        assert t.user_attrs["trial_name"] == row["trial_name"] and t.user_attrs["status"] == row["status"]
    assert searcher._ot_study.metric_names == ["eer", "onnx_latency_ms"]  # optuna-dashboard's axis names

    pareto = {r["trial_name"]: r["trial_id"] for r in rows if r["pareto"]}
    assert pareto and {p.name for p in (run / "pareto").iterdir()} == set(pareto)
    for trial_name, trial_id in pareto.items():
        folder = run / "pareto" / trial_name
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["trial_id"] == trial_id and "eer" in metrics["test"] and metrics["pareto_optimal"]
        assert metrics["cost"]["params"] <= PARAMS_BOUND and metrics["onnx"]["max_abs_diff"] < 1e-4
        session = ort.InferenceSession(str(folder / "model.onnx"))
        out = session.run(None, {"image": np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)})[0]
        assert out.shape == (2,)

    best = run / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["trial_id"] == picked[0]["trial_id"] and metrics["cost"]["params"] <= PARAMS_BOUND
    assert metrics["objectives"]["eer"]["value"] == pytest.approx(picked[0]["objective_eer"])
    assert load_study(run / STUDY_FILE, "mo").user_attrs["best_trial"] == metrics["trial_name"]  # the pick, by name
    point = metrics["deployment"]["operating_point"]
    assert metrics["deployment"]["threshold"] == point["threshold"] and point["target"] == {"apcer": 0.1}
    low, high = point["test"]["ci95"]["apcer"]
    assert low <= point["test"]["apcer"] <= high
    meta = ort.InferenceSession(str(best / "model.onnx")).get_modelmeta().custom_metadata_map
    assert float(meta["faceauth.threshold"]) == point["threshold"]
    assert json.loads(meta["faceauth.evaluation.operating_point"])["target"] == {"apcer": 0.1}
    report = (best / "report.md").read_text()
    assert "## Accuracy against deployment cost" in report and "**yes**" in report and "Operating point:" in report
    assert (best / "front.png").stat().st_size > 1000


@pytest.mark.usefixtures("shared_ray")
@pytest.mark.slow
def test_no_feasible_trial_is_said_and_writes_no_best(tmp_path, tune, capsys):
    assert _liveness(tmp_path, tune, "none", "--constraint", "params<=10") == 2
    err = capsys.readouterr().err
    assert "NO FEASIBLE TRIAL" in err and "params<=10" in err
    run = tmp_path / "runs" / "none"
    assert not (run / "best").exists() and not (run / "pareto").exists()
    assert not any(r["feasible"] for r in trials(run)) and (run / "front.png").exists()


@pytest.mark.parametrize("flags, words", [
    (["--pick", "knee"], "--pick knee needs two or more objectives"),
    (["--target-far", "1e-4"], "--target-far does not apply to liveness"),
    (["--target-apcer", "2"], "--target-apcer must lie between 0 and 1"),
    (["--objective", "eer:min", "--constraint", "latency<2"], "--constraint: constraint 'latency<2' must be METRIC<=VALUE"),
    (["--objective", "flops:min"], "objective metric 'flops' is not one the trials report"),
])
def test_bad_objective_flags_are_refused_before_ray_starts(tmp_path, tune, capsys, flags, words):
    assert tune.run("bad", *flags, task="liveness") == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # a killed search's resume is in the fast run (test_tune.py); this one has two objectives
def test_a_killed_two_objective_search_resumes_into_the_same_study(tmp_path, tune, wait_for):
    import os
    import signal

    from faceauth.tuning.result import STUDY_FILE, load_study

    flags = ["--search-space", _space(tmp_path), "--trials", "4", "--max-concurrent", "1", "--scheduler", "none"]
    proc = tune.start("mo-killed", *flags, task="liveness")
    run = tmp_path / "runs" / "mo-killed"
    finished = lambda d: any(r.get("completed") or r.get("early_stopped") for r in results_of(d))  # noqa: E731
    try:
        wait_for(lambda: sum(finished(d) for d in run.glob("liveness_*")) >= 2, 300, "two finished trials")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {d.name: results_of(d) for d in run.glob("liveness_*") if finished(d)}
    assert 2 <= len(before) < 4 and not (run / "trials.parquet").exists()

    assert tune.run("mo-killed", "--resume", task="liveness") == 0
    rows = trials(run)
    assert len(rows) == 4 and all(r["status"] in ("completed", "early_stopped") for r in rows)
    for name, lines in before.items():  # finished trials were not run again
        assert results_of(run / name) == lines
    study = load_study(run / STUDY_FILE, "mo-killed")
    told = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(t.number for t in told) == sorted(r["trial_number"] for r in rows)
    assert all(len(t.values) == 2 for t in told)
    assert sum(r["picked"] for r in rows) == 1 and any(r["pareto"] for r in rows)
