"""How the searcher and the trackers read a trial's reports: the kept model's report, its figures and
how the trial ended (faceauth.tuning.trial_reports); no Ray started."""

import pickle

import pytest

from faceauth.tuning.searcher import TaggedOptunaSearch
from faceauth.tuning.trial_reports import KeptReports, ending_status, kept_figures

# A trial that kept its validated start (epoch 0) while epoch 1 scored higher and was not kept.
START = {"epoch": 0, "tar_at_far_1e-3": 0.9667, "best_tar_at_far_1e-3": 0.9667, "kept_epoch": 0, "params": 4096,
         "epoch_time_s": 0.01, "workers": 1, "pid": 7, "config": {"lr": 0.001}, "training_iteration": 1}
LAST = {"epoch": 1, "train_loss": 0.2, "tar_at_far_1e-3": 0.9778, "best_tar_at_far_1e-3": 0.9667, "kept_epoch": 0,
        "params": 4096, "completed": True, "done": True, "training_iteration": 2}


def test_the_kept_report_gives_the_kept_models_figures_not_the_last_epochs():
    reports = KeptReports()
    for report in (START, LAST):
        reports.see("t", report)
    kept = reports.pop("t", LAST)
    assert kept["epoch"] == 0
    # Figures of the model only: no epoch bookkeeping, no Ray keys, no best_ (the figure itself is there).
    assert kept_figures(kept, LAST) == {"kept_tar_at_far_1e-3": 0.9667, "kept_params": 4096.0}


def test_without_the_kept_report_the_kept_value_every_report_carries_stands_in():
    reports = KeptReports()
    reports.see("t", LAST)  # a resumed trial: the kept epoch's report came before the restart
    assert reports.pop("t", LAST) is None
    assert kept_figures(None, LAST) == {"kept_tar_at_far_1e-3": 0.9667}


def test_a_failed_trial_ends_with_no_report_and_keeps_the_last_kept_one():
    reports = KeptReports()
    reports.see("t", START)
    assert reports.pop("t", None)["epoch"] == 0 and reports.pop("t", None) is None


def test_how_a_trial_ended_in_trials_parquets_words():
    assert ending_status(LAST, failed=False) == "completed"
    assert ending_status({"early_stopped": True}, failed=False) == "early_stopped"
    assert ending_status(START, failed=False) == "stopped_by_scheduler"
    assert ending_status(None, failed=True) == ending_status(LAST, failed=True) == "failed"


def test_a_searcher_saved_by_an_earlier_faceauth_resumes_gathering_kept_reports(tmp_path):
    saved = tmp_path / "searcher-state.pkl"
    saved.write_bytes(pickle.dumps({"_metric": "tar_at_far_1e-3", "_kept_results": {}}))
    searcher = TaggedOptunaSearch.__new__(TaggedOptunaSearch)
    searcher.restore(str(saved))
    searcher._kept.see("t", START)
    assert searcher._kept.pop("t", LAST) == START


def test_wandb_runs_log_faceauths_metrics_and_end_with_the_kept_model():
    """The W&B callback's queue to a trial's logging actor (no W&B service needed): reports without Ray's
    bookkeeping, then the kept model's figures, then the end."""
    import queue

    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    from ray.air.integrations.wandb import _QueueItem

    from faceauth.tuning.wandb_runs import FaceauthWandbCallback

    class Trial:
        last_result: dict = {}

    trial = Trial()
    callback = FaceauthWandbCallback(project="p", mode="offline")
    callback._kept = KeptReports()
    callback._trial_logging_actors = {trial: object()}
    callback._trial_queues = {trial: queue.Queue()}
    callback._cleanup_logging_actors = lambda *args, **kwargs: None
    reports = [{"epoch": 0, "eer": 0.2, "kept_epoch": 0, "best_eer": 0.2, "done": False, "pid": 7, "config/lr": 0.1,
                "training_iteration": 1},
               {"epoch": 1, "eer": 0.3, "kept_epoch": 0, "best_eer": 0.2, "done": True, "pid": 7, "config/lr": 0.1,
                "training_iteration": 2}]
    for index, report in enumerate(reports):
        callback.log_trial_result(index + 1, trial, report)
    trial.last_result = reports[-1]
    callback.log_trial_end(trial)
    items = []
    while not callback._trial_queues[trial].empty():
        items.append(callback._trial_queues[trial].get())
    kinds = [kind for kind, _ in items]
    assert kinds == [_QueueItem.RESULT, _QueueItem.RESULT, _QueueItem.RESULT, _QueueItem.END]
    assert all(not {"done", "pid", "config/lr"} & set(content) for _, content in items[:2])
    assert items[1][1]["eer"] == 0.3 and items[1][1]["training_iteration"] == 2
    assert items[2][1]["kept_eer"] == 0.2 and items[2][1]["kept_epoch"] == 0 and "training_iteration" not in items[2][1]
