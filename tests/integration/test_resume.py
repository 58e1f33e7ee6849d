"""--resume as docs/search.md shows it: the settings come from the run it resumes; and against a tampered
run folder: every file Ray's restore unpickles is sealed with a keyed digest, and a planted pickle is
refused, naming the file, before anything is unpickled."""

import json
import os
import pickle
import shutil
import signal
from pathlib import Path

import pytest

from faceauth.tuning.seal import SEAL_FILE
from faceauth import tune as tune_cli
from tests.run_readers import results_of, trials


class Plant:
    """Unpickling this creates the marker file: the proof that a planted pickle ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def sealed_run(tmp_path_factory, tune_at):
    """One finished 1-trial search; each test resumes a copy of its folder."""
    root = tmp_path_factory.mktemp("sealed")
    assert tune_at(root).run("orig", "--trials", "1") == 0
    return root / "runs" / "orig"


def copy_run(sealed_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "orig"
    shutil.copytree(sealed_run, run)
    return run


def one(run: Path, pattern: str) -> Path:
    return next(run.glob(pattern))


def plant_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(Plant(marker)))


def plant_in_experiment_state(path: Path, marker: Path) -> None:
    """A JSON value Ray's decoder expands with cloudpickle."""
    state = json.loads(path.read_text())
    state["stats"]["planted"] = {"_type": "CLOUDPICKLE_FALLBACK", "value": pickle.dumps(Plant(marker)).hex()}
    path.write_text(json.dumps(state))


def replace_file(pattern):
    return lambda run, marker: (plant_pickle(one(run, pattern), marker), one(run, pattern).name)[1]


CASES = {
    "tuner.pkl": replace_file("tuner.pkl"),
    "searcher state": replace_file("searcher-state-*.pkl"),
    "search generator state (a pickle named .json)": replace_file("search_gen_state-*.json"),
    "a trial's error.pkl": lambda run, marker: (plant_pickle(one(run, "fusion_*") / "error.pkl", marker), "error.pkl")[1],
    "experiment state with a cloudpickle value": lambda run, marker: (
        plant_in_experiment_state(one(run, "experiment_state-*.json"), marker), one(run, "experiment_state-*.json").name)[1],
    "an added top-level file": lambda run, marker: (
        plant_pickle(run / "basic-variant-state-2099-01-01_00-00-00.json", marker), "basic-variant-state-2099")[1],
    "an added callback state": lambda run, marker: (
        plant_pickle(run / "callback-states-2099-01-01_00-00-00.pkl", marker), "callback-states-2099")[1],
    "a removed searcher state": lambda run, marker: (
        one(run, "searcher-state-*.pkl").unlink(), "searcher-state-")[1],
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_tampered_run_folder_is_not_resumed(sealed_run, tmp_path, tune, capsys, case):
    run = copy_run(sealed_run, tmp_path)
    marker = tmp_path / "code-ran"
    named = CASES[case](run, marker)
    capsys.readouterr()
    assert tune.run("orig", "--resume") == 2
    out, err = capsys.readouterr()
    assert "--resume refused" in err and named in err and "Traceback" not in out + err
    assert not marker.exists()


def test_a_seal_edited_to_vouch_for_a_planted_file_is_refused(sealed_run, tmp_path, tune, capsys):
    run = copy_run(sealed_run, tmp_path)
    marker = tmp_path / "code-ran"
    plant_pickle(run / "tuner.pkl", marker)
    seal = json.loads((run / SEAL_FILE).read_text())
    seal["files"]["tuner.pkl"] = ["0" * 64]
    (run / SEAL_FILE).write_text(json.dumps(seal))
    assert tune.run("orig", "--resume") == 2
    assert "does not match the run key" in capsys.readouterr().err and not marker.exists()


def test_a_run_folder_without_a_seal_is_refused(sealed_run, tmp_path, tune, capsys):
    run = copy_run(sealed_run, tmp_path)
    (run / SEAL_FILE).unlink()
    assert tune.run("orig", "--resume") == 2
    assert f"has no {SEAL_FILE}" in capsys.readouterr().err


def test_the_key_must_be_there_and_private(sealed_run, tmp_path, tune, capsys, monkeypatch):
    copy_run(sealed_run, tmp_path)
    key = Path(os.environ["FACEAUTH_RUN_KEY"])
    monkeypatch.setenv("FACEAUTH_RUN_KEY", str(tmp_path / "no-key"))
    assert tune.run("orig", "--resume") == 2
    assert "no-key is missing" in capsys.readouterr().err
    shared = tmp_path / "shared-key"
    shutil.copy(key, shared)
    shared.chmod(0o644)
    monkeypatch.setenv("FACEAUTH_RUN_KEY", str(shared))
    assert tune.run("orig", "--resume") == 2
    assert "chmod 600" in capsys.readouterr().err
    shared.chmod(0o600)
    assert tune.run("orig", "--resume", "--epochs", "9") == 2  # the key is accepted: the next check speaks
    assert "was started with epochs" in capsys.readouterr().err


def test_the_key_is_created_private(sealed_run):
    key = Path(os.environ["FACEAUTH_RUN_KEY"])
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    assert key.read_bytes().hex() not in "".join(p.read_bytes().hex() for p in sealed_run.rglob("*") if p.is_file())


def test_a_resume_must_match_the_search_it_resumes(sealed_run, tmp_path, tune, mlp_only_space, capsys):
    run = copy_run(sealed_run, tmp_path)
    recorded = json.loads((run / "faceauth-search.json").read_text())
    assert recorded["trials"] == 1 and recorded["metric"] == "tar_at_far_1e-3" and recorded["smoke_test"]
    assert tune.run("orig", "--resume", "--search-space", mlp_only_space()) == 2
    err = capsys.readouterr().err
    assert "is a different search" in err and "parameters" in err and "fixed" in err
    assert tune.run("orig", "--resume", "--trials", "5") == 2
    assert "was started with --trials 1" in capsys.readouterr().err


@pytest.mark.usefixtures("shared_ray")
def test_a_smoke_test_resumes_with_the_readme_command(sealed_run, tmp_path, capsys):
    """Started with --smoke-test --trials 1; resumed with only --name, --storage and --resume: its own
    trial budget and config (smoke-test data), not the defaults; a flag given again must agree."""
    copy_run(sealed_run, tmp_path)
    readme = ["fusion", "--name", "orig", "--storage", str(tmp_path / "runs"), "--resume"]
    assert tune_cli.main([*readme, "--epochs", "7"]) == 2
    assert "was started with epochs = " in capsys.readouterr().err
    assert tune_cli.main([*readme, "--no-dashboard", "--num-cpus", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 trials" in out and "best trial" in out


def start_long_search(tmp_path: Path, tune, mlp_only_space, wait_for, name: str, epochs: int):
    """Three trials one at a time, each of whole epochs of more data (seconds each); returns once a
    trial has reported a few epochs and is still training: (process, run folder, that trial's folder).
    What the command prints goes to tmp_path/<name>.out; `tune`, `mlp_only_space` and `wait_for` are
    the test's fixtures."""
    proc = tune.start(name, "--trials", "3", "--scheduler", "none", "--max-concurrent", "1",
                      "--epochs", str(epochs), "--patience", "0", "--search-space", mlp_only_space(),
                      "--max-steps-per-epoch", "0", "--num_identities", "480", "--samples_per_id", "10",
                      output=tmp_path / f"{name}.out")
    run = tmp_path / "runs" / name
    running = lambda d: len(results_of(d)) > 2 and not results_of(d)[-1].get("done")  # noqa: E731
    try:
        trial_dir = wait_for(lambda: next((d for d in run.glob("fusion_*") if running(d)), None), 240, "a running trial")
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc, run, trial_dir


@pytest.mark.slow
def test_ctrl_c_then_the_readme_resume(tmp_path, tune, mlp_only_space, wait_for):
    """Ctrl-C while a trial trains: exit 130, that trial recorded as interrupted (nothing stopped it);
    the resume command of docs/search.md finishes the same search and writes best/."""
    proc, run, trial_dir = start_long_search(tmp_path, tune, mlp_only_space, wait_for, "ctrl-c", epochs=40)
    try:
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    printed = (tmp_path / "ctrl-c.out").read_text()
    assert "Traceback" not in printed and "--resume" in printed, printed[-3000:]
    rows = {r["trial_id"]: r for r in trials(run)}
    assert next(r for r in rows.values() if r["trial_name"] == trial_dir.name)["status"] == "interrupted"
    assert "stopped_by_scheduler" not in {r["status"] for r in rows.values()}
    assert not (run / "best").exists()

    assert tune_cli.main(["fusion", "--name", "ctrl-c", "--storage", str(tmp_path / "runs"), "--resume",
                          "--no-dashboard", "--num-cpus", "2"]) == 0
    after = {r["trial_id"]: r for r in trials(run)}
    assert len(after) == 3 and set(rows) <= set(after) and all(r["status"] == "completed" for r in after.values())
    assert (run / "best" / "metrics.json").exists()


@pytest.mark.slow
def test_a_killed_trial_and_a_driver_killed_while_writing_best_then_resume(tmp_path, tune, mlp_only_space, wait_for):
    """Faults in one search: a trial's process killed while it trains and checkpoints (retried from its
    checkpoint), then the driver and its Ray killed while writing best/; the resume command of docs/search.md finishes
    it. Every file read afterwards is whole: checkpoints and best/ are written under temporary names."""
    from faceauth.training.checkpoint import load_checkpoint

    proc, run, trial_dir = start_long_search(tmp_path, tune, mlp_only_space, wait_for, "faults", epochs=12)
    try:
        os.kill(results_of(trial_dir)[-1]["pid"], signal.SIGKILL)  # a trial checkpoints every improving epoch
        wait_for(lambda: (run / "best").exists(), 600, "best/ being written", poll=0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert tune_cli.main(["fusion", "--name", "faults", "--storage", str(tmp_path / "runs"), "--resume",
                          "--no-dashboard", "--num-cpus", "2"]) == 0
    rows = {r["trial_id"]: r for r in trials(run)}
    assert len(rows) == 3 and all(r["status"] == "completed" for r in rows.values())
    metrics = json.loads((run / "best" / "metrics.json").read_text())
    assert metrics["trial_id"] in rows
    assert load_checkpoint(run / "best" / "model.pt")["task"] == "fusion"
    assert not [p.name for p in run.rglob("*.tmp")], "a temporary file was left behind"
