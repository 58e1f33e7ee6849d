"""--warm-start reads an earlier search as data: its recorded settings and trials.parquet, built by hand here."""

import dataclasses

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceauth.io.errors import FaceauthError
from faceauth.tuning.space import Parameter, SearchSpace
from faceauth.tuning.storage import search_settings, write_settings
from faceauth.tuning.warm_start import warm_start_trials

SPACE = SearchSpace("space.yaml", "eer", "min", {"lr": Parameter("lr", "log_float", low=1e-4, high=1e-2),
                                                  "loss": Parameter("loss", "categorical", choices=["contrastive", "triplet"])})


def earlier_run(folder, space=SPACE, rows=None):
    write_settings(str(folder), search_settings("fusion", 3, space, {}, ()))
    rows = rows or [{"trial_name": "fusion_0000", "param_lr": 1e-3, "param_loss": "triplet", "best_eer": 0.10},
                    {"trial_name": "fusion_0001", "param_lr": 5e-3, "param_loss": "contrastive", "best_eer": 0.20},
                    {"trial_name": "fusion_0002", "param_lr": 2e-3, "param_loss": "triplet", "best_eer": None},  # failed
                    {"trial_name": "fusion_0003", "param_lr": 5e-2, "param_loss": "triplet", "best_eer": 0.05}]  # off range
    pq.write_table(pa.Table.from_pylist(rows), folder / "trials.parquet")
    return folder


def test_the_finished_trials_inside_the_space_seed_the_new_search(tmp_path):
    trials = warm_start_trials(earlier_run(tmp_path / "old"), "fusion", SPACE)
    assert [(t[1], t[2]) for t in trials] == [(0.10, "old/fusion_0000"), (0.20, "old/fusion_0001")]
    assert trials[0][0] == {"lr": 1e-3, "loss": SPACE.parameters["loss"].encode("triplet")}


@pytest.mark.parametrize("change,named", [
    ({"mode": "max"}, "another mode;"),
    ({"metric": "roc_auc"}, "another metric;"),
    ({"parameters": {"lr": Parameter("lr", "log_float", low=1e-5, high=1e-2)}}, "another parameters;"),
])
def test_a_run_that_differs_in_one_setting_is_refused_naming_it(tmp_path, change, named):
    old = earlier_run(tmp_path / "old", dataclasses.replace(SPACE, objectives=(), **change))
    with pytest.raises(FaceauthError, match=named):
        warm_start_trials(old, "fusion", SPACE)


def test_another_task_is_refused(tmp_path):
    with pytest.raises(FaceauthError, match="another task"):
        warm_start_trials(earlier_run(tmp_path / "old"), "liveness", SPACE)
