"""The search end to end against a real local Ray: `faceauth.tune` as a user runs it."""

import json
import os
import signal
import time

import pytest
import yaml

from faceauth.tuning.result import STUDY_FILE, load_study
from tests.run_readers import announced_actor_names, results_of, trials


@pytest.mark.usefixtures("shared_ray")
def test_asha_stops_some_trials_completes_others_and_tells_the_study_each(tmp_path, tune, mlp_only_space):
    from ray.tune.search.optuna import OptunaSearch

    started = time.time()
    # An unbounded residual (residual_bound 0) moves the validation figure from epoch to epoch, so that
    # ASHA has trials to tell apart; the bounded default holds every trial near the same start.
    assert tune.run("asha", "--trials", "8", "--epochs", "6", "--patience", "0", "--search-space",
                    mlp_only_space(residual_bound=0.0), "--num_identities", "60", "--max-concurrent", "2") == 0
    run = tmp_path / "runs" / "asha"
    rows = {r["trial_id"]: r for r in trials(run)}
    stopped = [t for t, r in rows.items() if r["status"] == "stopped_by_scheduler"]
    assert stopped, "ASHA stopped no trial; the test needs some"

    searcher = OptunaSearch()
    searcher.restore_from_dir(str(run))
    told = {trial_id: ot for trial_id, ot in searcher._ot_trials.items()}
    finished = [t for t in searcher._ot_study.trials if t.state.name == "COMPLETE"]
    assert len(finished) == len(rows)  # every trial, stopped early or not, informed the searcher
    for trial_id in stopped:
        ot_trial = next(t for t in searcher._ot_study.trials if t.number == told[trial_id].number)
        assert ot_trial.state.name == "COMPLETE"
        # The study holds the value of the model the trial keeps (its best epoch), not its last epoch's,
        # and says what Optuna's COMPLETE does not: ASHA stopped it.
        assert ot_trial.value == pytest.approx(rows[trial_id]["best_tar_at_far_1e-3"])
        assert ot_trial.user_attrs["status"] == "stopped_by_scheduler"
        assert ot_trial.user_attrs["trial_name"] == rows[trial_id]["trial_name"]
    # ASHA counts epochs: a trial it never stops runs every epoch and completes.
    completed = [t for t, r in rows.items() if r["status"] == "completed"]
    assert completed, "no trial ran all its epochs: ASHA stopped every one"
    for trial_id in completed:
        reports = results_of(run / rows[trial_id]["trial_name"])
        assert [r["epoch"] for r in reports][-1] == 6 and rows[trial_id]["epochs_run"] == 6
    # The Ray dashboard's actors carry trial names, also an actor that Tune handed its next trial (two
    # actors ran the eight trials), not Tune's function name.
    announced = announced_actor_names(started)
    assert {r["trial_name"] for r in rows.values()} <= set(announced) and "func" not in announced, announced


@pytest.mark.usefixtures("shared_ray")
def test_a_diverging_trial_fails_with_its_reason_and_the_search_goes_on(tmp_path, tune):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"metric": "tar_at_far_1e-3", "mode": "max", "parameters": {
        "lr": {"type": "categorical", "choices": [1.0e12, 1.0e-3], "default": 1.0e12}}}))
    assert tune.run("nan", "--trials", "3", "--search-space", str(space), "--scheduler", "none") == 0
    rows = trials(tmp_path / "runs" / "nan")
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all("loss became nan" in r["error"] for r in failed)
    assert all(r["param_lr"] == 1e12 for r in failed)
    # Ray retries it (--max-failures 2), but no retry trains again: of the trial's failures Ray records
    # in error.txt, only the first came out of the training loop; the others stop at the marker.
    for row in failed:
        failures = (tmp_path / "runs" / "nan" / row["trial_name"] / "error.txt").read_text().split("Failure # ")[1:]
        assert len(failures) == 3 and sum("faceauth/training/fit.py" in f for f in failures) == 1
    assert any(r["status"] == "completed" for r in rows)
    assert json.loads((tmp_path / "runs" / "nan" / "best" / "metrics.json").read_text())["hyperparameters"]["lr"] == 1e-3
    # The study names the failure; the start it validated and kept (epoch 0) is its value, as in trials.parquet.
    study = {t.user_attrs.get("trial_name"): t for t in load_study(tmp_path / "runs" / "nan" / STUDY_FILE, "nan").trials}
    for row in failed:
        assert study[row["trial_name"]].user_attrs["status"] == "failed"
        assert study[row["trial_name"]].value == pytest.approx(row["best_tar_at_far_1e-3"])


@pytest.mark.slow  # about 35 s: a driver started, killed mid-search and resumed in subprocesses
def test_resume_after_the_driver_is_killed(tmp_path, tune, mlp_only_space, wait_for, capsys):
    space = mlp_only_space()
    proc = tune.start("killed", "--trials", "6", "--scheduler", "none", "--max-concurrent", "1",
                      "--epochs", "3", "--patience", "0", "--search-space", space)
    run = tmp_path / "runs" / "killed"
    epochs = 3
    done = lambda d: any(r.get("epoch") == epochs for r in results_of(d))  # noqa: E731
    try:
        wait_for(lambda: sum(done(d) for d in run.glob("fusion_*")) >= 2, 240, "two finished trials")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started, no clean-up
        proc.wait()
    before = {d.name: results_of(d) for d in run.glob("fusion_*") if done(d)}
    assert not (run / "trials.parquet").exists()

    assert tune.run("killed", "--resume", "--epochs", "3", "--patience", "0", "--search-space", space) == 0
    rows = trials(run)
    assert len(rows) == 6 and all(r["status"] == "completed" for r in rows)
    # The same search went on: the trials of the first run are among its rows, not a fresh six.
    # (Ray's trial ids: the folders' names are numbers a fresh search would repeat.)
    assert {lines[-1]["trial_id"] for lines in before.values()} <= {r["trial_id"] for r in rows}
    for name, lines in before.items():  # finished trials were not re-run
        assert results_of(run / name) == lines
    # The resumed search went on in the same Optuna study: one finished Optuna trial per trial.
    study = load_study(run / STUDY_FILE, "killed")
    assert sorted(t.number for t in study.trials if t.state.name == "COMPLETE") == sorted(r["trial_number"] for r in rows)
    names = {t.number: t.user_attrs.get("trial_name") for t in study.trials}  # named in both runs of the search
    assert {r["trial_number"]: r["trial_name"] for r in rows} == {r["trial_number"]: names[r["trial_number"]] for r in rows}

    # A study journal damaged since (cut short, as by a full disk) is named before Ray starts, and left as it was.
    journal = (run / STUDY_FILE).read_bytes()
    (run / STUDY_FILE).write_bytes(journal[:100])
    capsys.readouterr()
    assert tune.run("killed", "--resume", "--search-space", space) == 2
    assert f"the Optuna study {run / STUDY_FILE} cannot be read" in capsys.readouterr().err
    assert (run / STUDY_FILE).read_bytes() == journal[:100]


def test_resume_of_an_unknown_run_is_a_clear_error(tune, capsys):
    assert tune.run("never-ran", "--resume") == 2
    assert "no search to resume" in capsys.readouterr().err


# A subprocess search of 2 x 20 epochs whose worker is killed (35-47 s): with the slow tests, beside the
# node-loss test (tests/integration/test_tune_cluster.py), which also resumes lost trials from their checkpoints.
@pytest.mark.slow
@pytest.mark.parametrize("max_failures,expected", [(1, "completed"), (0, "failed")])
def test_a_crashed_trial_is_retried_from_its_checkpoint_then_recorded_as_failed(tmp_path, tune, mlp_only_space, wait_for,
                                                                                 max_failures, expected):
    proc = tune.start("crash", "--trials", "2", "--scheduler", "none", "--max-concurrent", "1",
                      "--epochs", "20", "--patience", "0", "--max-failures", str(max_failures),
                      "--search-space", mlp_only_space(),  # whole epochs of more data: a trial lasts seconds
                      "--max-steps-per-epoch", "0", "--num_identities", "120", "--samples_per_id", "10")
    run = tmp_path / "runs" / "crash"
    try:
        # A trial that has reported its start (epoch 0, with a checkpoint) and is still training.
        running = lambda d: results_of(d) and not results_of(d)[-1].get("completed")  # noqa: E731
        trial_dir = wait_for(lambda: next((d for d in run.glob("fusion_*") if running(d)), None), 240,
                             "a running trial")
        os.kill(results_of(trial_dir)[-1]["pid"], signal.SIGKILL)  # the trial's worker process dies
        assert proc.wait(timeout=300) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    rows = {r["trial_name"]: r for r in trials(run)}
    crashed = rows[trial_dir.name]
    assert crashed["status"] == expected
    other = [r for t, r in rows.items() if t != crashed["trial_name"]]
    assert other[0]["status"] == "completed"  # the search went on
    if expected == "completed":
        lines = results_of(trial_dir)
        restarts = [i for i, r in enumerate(lines) if i and r["iterations_since_restore"] == 1]
        # Resumed from its checkpoint: a fresh start would report epoch 0 (the start, validated) first.
        assert restarts and lines[restarts[0]]["epoch"] >= 1
        assert lines[-1]["epoch"] == 20
    else:
        assert crashed["error"]
    assert (run / "best" / "model.onnx").exists()
