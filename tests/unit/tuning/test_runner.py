"""The search runner's pure pieces (faceauth.tuning.runner), no Ray started: the storage path, trial
names, how many trials fit at once and why one cannot be placed (a DDP trial's driver counted), a
trial's config, the Ray environment and log levels it sets, and the check of a resumed search's
Optuna study."""

import logging
import os
from types import SimpleNamespace

import pytest

from faceauth.io.errors import FaceauthError
from faceauth.tuning.result import study_storage
from faceauth.tuning.runner import (QUIET_RAY_LOGGERS, RAY_ENV, SearchOptions, TrialSetup, check_study, no_cuda_message,
                                    plan_concurrency, quiet_ray_logs, set_ray_environment, storage_path, trial_name,
                                    unmet_resources)
from faceauth.tuning.space import Parameter, SearchSpace


def test_a_uri_is_kept_and_a_folder_made_absolute(tmp_path, monkeypatch):
    assert storage_path("s3://bucket/runs") == "s3://bucket/runs"
    assert storage_path("file:///srv/runs") == "file:///srv/runs"
    monkeypatch.chdir(tmp_path)
    assert storage_path("runs") == str(tmp_path.resolve() / "runs")
    assert storage_path("runs/../other") == str(tmp_path.resolve() / "other")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert storage_path("~/runs") == str(tmp_path / "home" / "runs")


def test_trials_are_named_by_their_place_counted_from_zero():
    trial = SimpleNamespace(experiment_tag="8_lr=0.001,loss=triplet", trial_id="a1b2c3")
    assert trial_name("fusion", trial) == "fusion_0007"  # Tune counts from 1
    assert trial_name("liveness", SimpleNamespace(experiment_tag=1, trial_id="x")) == "liveness_0000"
    assert trial_name("fusion", SimpleNamespace(experiment_tag="lr=0.1", trial_id="a1b2c3")) == "fusion_a1b2c3"


def test_a_ddp_trials_driver_takes_a_slot_of_cpu():
    ddp = SearchOptions(task="fusion", trials=100, workers_per_trial=2)
    assert ddp.uses_train and not SearchOptions(task="fusion").uses_train
    # 2 workers x 1 CPU + 0.01 CPU for the trial's driver: 4 CPUs hold one such trial, 8 CPUs three.
    assert plan_concurrency(ddp, {"CPU": 4}, [{"CPU": 4}]) == 1
    assert plan_concurrency(ddp, {"CPU": 8}, [{"CPU": 8}]) == 3
    # Without DDP the same 4 CPUs hold 4 one-worker trials.
    assert plan_concurrency(SearchOptions(task="fusion", trials=100), {"CPU": 4}, [{"CPU": 4}]) == 4


def test_gpu_shares_bound_the_trials_at_once():
    quarter = SearchOptions(task="fusion", trials=100, gpus_per_worker=0.25)
    assert plan_concurrency(quarter, {"CPU": 16, "GPU": 1}, [{"CPU": 16, "GPU": 1}]) == 4  # four trials a GPU
    assert plan_concurrency(quarter, {"CPU": 3, "GPU": 1}, [{"CPU": 3, "GPU": 1}]) == 3  # the CPUs bound it first
    assert plan_concurrency(SearchOptions(task="fusion", trials=0), {"CPU": 4}, [{"CPU": 4}]) == 1  # at least one


def test_a_trial_that_does_not_fit_is_refused_with_a_smaller_setting_to_try():
    ddp = SearchOptions(task="fusion", trials=10, workers_per_trial=2, cpus_per_worker=1.5)
    # 2 x 1.5 + 0.01 = 3.01 CPUs on a cluster of 2; per worker (2 - 0.01) / 2 = 0.995, so 0.9 to one decimal.
    assert unmet_resources(ddp, {"CPU": 2}, [{"CPU": 2}]) == (
        "one trial needs 2 workers x 1.5 CPU plus 0.01 CPU for its driver, but the cluster has 2 CPUs; lower "
        "--workers-per-trial or the per-worker resources (e.g. --cpus-per-worker 0.9)")
    with pytest.raises(FaceauthError) as raised:
        plan_concurrency(ddp, {"CPU": 2}, [{"CPU": 2}])
    assert str(raised.value).endswith("(e.g. --cpus-per-worker 0.9). On an autoscaling cluster, "
                                      "--wait-for-resources-s lets new nodes come up first")
    assert "more than any node has (largest: 0 CPUs)" in unmet_resources(SearchOptions(task="fusion"), {}, [])


def test_no_cuda_names_the_torch_build_and_the_ways_out():
    message = no_cuda_message("2.13.0+cpu")
    assert message.startswith("--gpus-per-worker asks for GPUs, but torch 2.13.0+cpu on the node that would train has no CUDA")
    assert "drop --gpus-per-worker" in message and "pass --device cpu" in message


def test_a_trials_config_is_the_base_with_its_decoded_sample_over_it():
    space = SearchSpace(path="s.yaml", metric="eer", mode="min",
                        parameters={"hidden_sizes": Parameter("hidden_sizes", "categorical", choices=([512], [512, 256])),
                                    "lr": Parameter("lr", "log_float", 1e-4, 1e-2)})
    setup = TrialSetup(task=None, base={"epochs": 3, "lr": 0.5, "hidden_sizes": [64]}, space=space, workers=1,
                       cpus_per_worker=1.0, gpus_per_worker=0.0, max_failures=2, train_storage="/runs/s/train")
    assert setup.config_for({"hidden_sizes": "[512, 256]", "lr": 0.001}) == {"epochs": 3, "lr": 0.001,
                                                                           "hidden_sizes": [512, 256]}
    assert setup.config_for({}) == {"epochs": 3, "lr": 0.5, "hidden_sizes": [64]}


def test_the_ray_environment_keeps_what_the_user_set(monkeypatch):
    for name in (*RAY_ENV, "RAY_COLOR_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_CHDIR_TO_TRIAL_DIR", "1")
    set_ray_environment()
    assert os.environ["RAY_CHDIR_TO_TRIAL_DIR"] == "1"
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0" and os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] == "0.2"
    assert os.environ["RAY_COLOR_PREFIX"] == "0"  # pytest's output is not a terminal


def test_ray_trains_checkpoint_lines_are_quietened():
    loggers = [logging.getLogger(name) for name in QUIET_RAY_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.INFO)
        quiet_ray_logs()
        assert [logger.level for logger in loggers] == [logging.WARNING, logging.WARNING]
        assert not loggers[0].isEnabledFor(logging.INFO) and loggers[0].isEnabledFor(logging.WARNING)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def test_a_resumed_search_refuses_a_study_it_cannot_read(tmp_path):
    import optuna

    check_study(tmp_path / "absent.log", "search")  # a run from before the study was kept: nothing to check
    path = tmp_path / "optuna-study.log"
    optuna.create_study(study_name="search", storage=study_storage(path))
    check_study(path, "search")
    with pytest.raises(FaceauthError, match=f"^--resume: the Optuna study {path} cannot be read \\(KeyError: "):
        check_study(path, "another-search")
    damaged = tmp_path / "damaged.log"
    damaged.write_text('garbage\n{"op_code": 0, "worker_id": "w", "study_name": "search", "directions": [1]}\n')
    with pytest.raises(FaceauthError, match=r"cannot be read \(JSONDecodeError: .*\); restore the file, or start a new "
                                            r"search under another --name \(--warm-start can seed it"):
        check_study(damaged, "search")
    assert damaged.read_text().startswith("garbage\n")  # the check only reads it
    edited = tmp_path / "edited.log"  # an operation Optuna does not know
    edited.write_text('{"op_code": 0, "worker_id": "w", "study_name": "search", "directions": [1]}\n{"op_code": 99}\n')
    with pytest.raises(FaceauthError, match=f"^--resume: the Optuna study {edited} cannot be read"):
        check_study(edited, "search")
