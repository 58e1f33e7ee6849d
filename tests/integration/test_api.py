"""faceauth from Python, as a notebook uses it: Ray already started, two searches in one process,
results read from the returned object, experiment tracking read back, Ray still up afterwards."""

import logging

import optuna
import pandas as pd
import pytest
import ray
import yaml

import faceauth
from faceauth.tuning.result import load_study
from tests.run_readers import event_scalars

METRIC = "tar_at_far_1e-3"  # the fusion search space's objective


@pytest.fixture
def notebook_ray(shared_ray):
    """The user's own Ray, started before the search (never another test's cluster)."""
    assert ray.is_initialized()
    yield


def smoke(tmp_path, name, **extra):
    return faceauth.search("fusion", smoke_test=True, name=name, storage=str(tmp_path / "runs"),
                           log_dir=str(tmp_path / "logs"), **extra)


def test_two_searches_in_a_notebook_with_mlflow(tmp_path, notebook_ray, caplog, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra (pip install 'faceauth[mlflow]') is not installed")
    store = tmp_path / "mlruns"
    caplog.set_level(logging.INFO, logger="faceauth")

    first = smoke(tmp_path, "first", mlflow=str(store))
    second = smoke(tmp_path, "second", patience=1, warm_start=str(first.run_dir))  # starts from the first's trials
    assert ray.is_initialized()  # the user's Ray is left running
    assert any("joining the Ray instance" in r.message for r in caplog.records)

    for result, trials, told in ((first, 2, 0), (second, 2, 2)):
        assert result.finished and result.best_dir == result.run_dir / "best"
        assert result.test_metrics["tar_at_far_1e-3"] is not None
        assert set(result.baselines) == {"score_average", "embedding_average"}
        assert result.verdict["summary"]
        assert result.over_defaults["summary"].startswith("The search ") and "defaults" in result.over_defaults["summary"]
        table = result.trials
        assert len(table) == trials and list(table["trial_name"]) == [f"fusion_{n:04d}" for n in range(trials)]
        assert str(table["error"].dtype) in ("object", "string", "str") and (table["ended_at"] >= table["started_at"]).all()
        assert not [c for c in table.columns if "since_restore" in c or c in ("last_pid", "last_done")]
        assert len(result.result_grid) == trials
        # The study is a real Optuna study on disk, trial for trial the search's.
        study = load_study(result.study_path, result.name)
        assert isinstance(result.study, optuna.Study)
        # Trial numbers are the Optuna trials' (the warm start's trials are Optuna trials too).
        own = sorted(t.number for t in study.trials if "ray_trial_id" in t.user_attrs)
        assert list(table["trial_number"]) == own and (told or own == list(range(trials)))
        done = {t.number: t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE}
        assert len(done) == told + trials
        for row in table.to_dict("records"):  # the same active parameters; an inactive one is empty in the table
            active = {k.removeprefix("param_"): v for k, v in row.items() if k.startswith("param_") and not pd.isna(v)}
            assert done[row["trial_number"]].params == pytest.approx(active)
        # Checkpoints: only the best trial keeps one; best/ holds the exported model.
        kept = sorted(p.parent.name for p in result.run_dir.glob("fusion_*/checkpoint_*"))
        assert kept == [result.metrics["trial_name"]]
    warm = [t for t in second.study.trials if "warm_start_from" in t.user_attrs]
    first_values = {f"first/{r['trial_name']}": r["best_tar_at_far_1e-3"] for r in first.trials.to_dict("records")}
    assert {t.user_attrs["warm_start_from"]: t.value for t in warm} == pytest.approx(first_values)
    assert yaml.safe_load((second.best_dir / "config.yaml").read_text())["patience"] == 1  # a config key, as a keyword
    check_study_names_the_shipped_trial(first)
    assert second.study.user_attrs["best_trial"] == second.metrics["trial_name"]  # its warm-start trials are not faceauth's
    check_tensorboard(first)

    # MLflow: one run per trial with its hyperparameters and per-epoch metrics; best/ on the best trial's run.
    client = mlflow.tracking.MlflowClient(tracking_uri=store.resolve().as_uri())
    experiment = client.get_experiment_by_name("first")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["trial_name"] for r in runs) == ["fusion_0000", "fusion_0001"]
    assert all("fusion_kind" in r.data.params and "tar_at_far_1e-3" in r.data.metrics for r in runs)
    # A run logs its trial's active hyperparameters only: the MLP's lr for an mlp trial, none for score averaging.
    assert all(("lr" in r.data.params) == (r.data.params["fusion_kind"] == "mlp") for r in runs)
    best_run = next(r for r in runs if r.data.tags.get("faceauth_best") == "true")
    assert best_run.data.tags["trial_name"] == first.metrics["trial_name"]
    # The search's line names that run and where the UI shows the experiment's runs (not its traces page).
    assert any(f"logged to run {best_run.info.run_id}" in r.message and f"#/experiments/{experiment.experiment_id}/runs"
               in r.message for r in caplog.records)
    history = client.get_metric_history(best_run.info.run_id, "tar_at_far_1e-3")
    assert len(history) >= 1
    # Metrics of the model only, at the steps of their epochs: no Ray bookkeeping, no config/ copies.
    assert not {"pid", "timestamp", "iterations_since_restore", "done", "training_iteration"} & set(best_run.data.metrics)
    assert not any(k.startswith("config/") for k in best_run.data.metrics)
    assert [h.step for h in history] == sorted(h.step for h in history) and history[0].step == 0
    artifacts = {a.path for a in client.list_artifacts(best_run.info.run_id, "best")}
    # The kept model's figures end the run, at the kept epoch: the value the study and best/ hold.
    kept = client.get_metric_history(best_run.info.run_id, f"kept_{METRIC}")
    assert [(h.step, h.value) for h in kept] == [(first.metrics["best_epoch"], pytest.approx(first.metrics["val"][METRIC]))]
    assert best_run.data.tags["faceauth.kept_epoch"] == str(first.metrics["best_epoch"])
    table = first.trials.set_index("trial_name")
    for run in runs:
        name = run.data.tags["trial_name"]
        assert run.data.metrics[f"kept_{METRIC}"] == pytest.approx(table.loc[name, f"best_{METRIC}"])
        assert run.data.tags["faceauth.status"] == table.loc[name, "status"]
    assert {"best/model.onnx", "best/metrics.json", "best/report.md", "best/model.pt"} <= artifacts

    # A resume, as from a new shell: Tune brings the MLflow callback back as the search started it, so the
    # search takes its tracking from the run (the folder store is allowed again), and refuses another.
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(faceauth.FaceauthError, match="--mlflow"):
        smoke(tmp_path, "first", resume=True, mlflow=str(tmp_path / "elsewhere"))
    again = smoke(tmp_path, "first", resume=True)
    assert again.finished and again.metrics["trial_name"] == first.metrics["trial_name"]
    assert len(client.search_runs([experiment.experiment_id])) == 2  # no trial ran, or was logged, twice


def check_study_names_the_shipped_trial(result) -> None:
    """optuna-dashboard's view: the metric's name, each trial's name, folder and status as
    trials.parquet has them, and the study's best trial is the one best/ holds, with its value."""
    study, table, shipped = result.study, result.trials, result.metrics
    assert study.metric_names == [METRIC]
    own = {t.number: t for t in study.trials if "ray_trial_id" in t.user_attrs}
    for row in table.to_dict("records"):
        attrs = own[row["trial_number"]].user_attrs
        assert (attrs["trial_name"], attrs["trial_folder"], attrs["status"]) == (row["trial_name"], row["trial_name"], row["status"])
    named = next(t for t in own.values() if t.user_attrs["trial_name"] == shipped["trial_name"])
    assert named.value == study.best_value == pytest.approx(shipped["val"][METRIC])
    assert study.user_attrs["best_trial"] == shipped["trial_name"]
    assert study.user_attrs[f"best_test_{METRIC}"] == pytest.approx(shipped["test"][METRIC])


def check_tensorboard(result) -> None:
    """A trial's events: faceauth's metrics under their own names at the step of their epoch (no
    ray/tune bookkeeping), and the kept model's figures at the kept epoch; one folder per trial."""
    table = result.trials.set_index("trial_name")
    for name, row in table.iterrows():
        files = list((result.run_dir / name).glob("events.out.tfevents.*"))
        assert len(files) == 1, files  # Tune wrote none of its own beside faceauth's
        scalars = event_scalars(files[0])
        assert not [tag for _, tag, _ in scalars if tag.startswith("ray/")]
        assert {step for step, tag, _ in scalars if tag == METRIC} == set(range(row["epochs_run"] + 1))
        kept = [(step, value) for step, tag, value in scalars if tag == f"kept_{METRIC}"]
        assert len(kept) == 1 and kept[0][1] == pytest.approx(row[f"best_{METRIC}"])
    shipped = [(step, value) for step, tag, value in event_scalars(next((result.run_dir / result.metrics["trial_name"])
                                                                            .glob("events.out.tfevents.*")))
               if tag == f"kept_{METRIC}"]
    assert shipped == [(result.metrics["best_epoch"], pytest.approx(result.metrics["val"][METRIC]))]


@pytest.mark.slow  # a W&B service and a logging actor per trial: slow to start on two cores
def test_wandb_offline_logs_every_trial_and_best(tmp_path, notebook_ray, monkeypatch):
    pytest.importorskip("wandb", reason="the wandb extra (pip install 'faceauth[wandb]') is not installed")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = smoke(tmp_path, "wb", wandb="faceauth-test")
    # A run per trial in the trial's folder (Ray's logging actor), and the best/ artifact run.
    trial_runs = list(result.run_dir.glob("fusion_*/wandb/offline-run-*"))
    best_runs = list(result.run_dir.glob("wandb/offline-run-*"))
    assert len(trial_runs) == 2 and len(best_runs) == 1, sorted(str(p) for p in result.run_dir.rglob("offline-run-*"))
    assert any(p.suffix == ".wandb" for p in best_runs[0].iterdir())


@pytest.mark.own_ray
def test_a_user_error_raises_before_ray_starts(tmp_path):
    with pytest.raises(faceauth.FaceauthError, match="unknown task 'fuson'"):
        faceauth.search("fuson")
    with pytest.raises(faceauth.FaceauthError, match="unknown key 'learning_rate'"):
        smoke(tmp_path, "typo", learning_rate=0.1)
    with pytest.raises(faceauth.FaceauthError, match="no/such.yaml"):
        smoke(tmp_path, "space", search_space="no/such.yaml")
    # Keywords are checked as the command's flags are: the keyword is named, not a TypeError deep inside.
    for keywords, named in (({"trials": "x"}, "keyword trials"), ({"trials": 2.5}, "keyword trials: 2.5 is not an integer"),
                            ({"epochs": "ten"}, "keyword epochs"), ({"scheduler": "fifo"}, "keyword scheduler"),
                            ({"fusion_kind": "deep"}, "keyword fusion_kind"), ({"lr": "fast"}, "keyword lr")):
        with pytest.raises(faceauth.FaceauthError, match=named):
            smoke(tmp_path, "keywords", **keywords)
    with pytest.raises(faceauth.FaceauthError, match="keyword storage: 123 is of type int"):
        faceauth.search("fusion", smoke_test=True, storage=123)
    with pytest.raises(faceauth.FaceauthError, match="keyword test_data: 7 is of type int, not a path"):
        faceauth.evaluate(tmp_path / "model.pth", test_data=7)
    assert not ray.is_initialized() and not (tmp_path / "runs").exists()


@pytest.mark.slow  # the commands' own tests cover the training run; this checks the Python entry points
def test_train_and_evaluate_from_python(tmp_path):
    model = tmp_path / "fusion.pth"
    run = faceauth.train("fusion", smoke_test=True, synthetic=True, output=str(model), log_dir=str(tmp_path / "logs"))
    assert run.model_path == model and model.is_file() and run.history
    assert run.metrics["task"] == "fusion" and set(run.metrics["test_baselines"]) == {"score_average", "embedding_average"}
    report = faceauth.evaluate(model)
    model_metrics = next(iter(report["metrics"].values()))  # the model first, then its baselines
    assert report["task"] == "fusion" and model_metrics["eer"] == pytest.approx(run.metrics["test"]["eer"])
    assert (tmp_path / "fusion.eval.json").is_file()
    with pytest.raises(faceauth.FaceauthError, match="does not exist"):
        faceauth.evaluate(tmp_path / "missing.pth")


def test_a_warm_start_needs_the_same_space(tmp_path):
    with pytest.raises(faceauth.FaceauthError, match="is not a finished faceauth search"):
        smoke(tmp_path, "warm", warm_start=str(tmp_path / "nothing"))
    run = tmp_path / "runs" / "old"
    run.mkdir(parents=True)
    (run / "trials.parquet").write_bytes(b"")
    (run / "faceauth-search.json").write_text('{"task": "fusion", "trials": 2, "metric": "eer", "mode": "min", "parameters": {}}')
    with pytest.raises(faceauth.FaceauthError, match="searched another metric and mode and parameters"):
        smoke(tmp_path, "warm", warm_start=str(run))
