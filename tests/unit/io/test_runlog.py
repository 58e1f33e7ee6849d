"""A run's record (faceauth.io.runlog): values made JSON-ready, files replaced atomically (no temporary
file left, the old content kept when a write fails, the real path named in an error), the per-run
experiment log rewritten after each epoch, seeding that repeats draws, and the versions recorded."""

import errno
import json
import random
import re

import numpy as np
import pytest
import torch

from faceauth.io import runlog
from faceauth.io.runlog import ExperimentLog, atomic_replace, atomic_write_text, package_versions, seed_everything, to_jsonable


def test_numpy_scalars_become_python_numbers():
    converted = to_jsonable({"eer": np.float32(0.5), "epoch": np.int64(3), "kept": np.bool_(True)})
    assert converted == {"eer": 0.5, "epoch": 3, "kept": True}
    assert [type(v) for v in converted.values()] == [float, int, bool]


def test_tuples_become_lists_and_keys_strings_all_the_way_down():
    converted = to_jsonable({"sizes": (512, (256, np.int32(128))), 7: [{"a": (1,)}]})
    assert converted == {"sizes": [512, [256, 128]], "7": [{"a": [1]}]}
    assert json.loads(json.dumps(converted)) == converted


def test_python_nan_and_infinities_become_strings():
    assert to_jsonable([float("nan"), float("inf"), float("-inf"), 0.25]) == ["nan", "inf", "-inf", 0.25]
    assert json.dumps(to_jsonable({"eer": float("nan")})) == '{"eer": "nan"}'


def test_other_values_pass_through_unchanged():
    assert to_jsonable("text") == "text" and to_jsonable(None) is None and to_jsonable(2) == 2


def test_atomic_write_text_writes_and_leaves_no_temporary_file(tmp_path):
    path = atomic_write_text(tmp_path / "logs" / "run.json", "first")  # the folder is made
    assert path == tmp_path / "logs" / "run.json" and path.read_text() == "first"
    atomic_write_text(str(path), "second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]


def test_a_write_that_fails_half_way_keeps_the_old_content(tmp_path):
    path = atomic_write_text(tmp_path / "run.json", '{"epochs": 1}')
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, '{"epochs": 2, "name": "\ud800"}')  # a lone surrogate: no UTF-8 for it
    assert path.read_text() == '{"epochs": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_an_error_inside_atomic_replace_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    path = atomic_write_text(tmp_path / "table.parquet", "old")
    with pytest.raises(ValueError, match="no rows"):
        with atomic_replace(path) as tmp:
            assert tmp == tmp_path / "table.parquet.tmp"
            tmp.write_text("half")
            raise ValueError("no rows")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_a_full_disk_error_without_a_file_name_names_the_real_path(tmp_path):
    path = tmp_path / "metrics.json"
    with pytest.raises(OSError) as raised:
        with atomic_replace(path) as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, "No space left on device")  # what a failed write() says
    assert (raised.value.errno, raised.value.strerror, raised.value.filename) == (
        errno.ENOSPC, "No space left on device", str(path))
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_written_is_an_os_error_about_that_file():
    target = "/proc/faceauth-test-run.json"  # /proc takes no new files, even from root
    with pytest.raises(OSError) as raised:
        atomic_write_text(target, "{}")
    assert raised.value.errno == errno.ENOENT and raised.value.filename.startswith(target)


class _Unprintable:
    def __str__(self):
        raise RuntimeError("no text for this key")


def test_the_experiment_log_is_rewritten_after_each_epoch(tmp_path):
    log = ExperimentLog(tmp_path / "experiments", "fusion", {"lr": 0.01, "sizes": (32, 16)}, seed=5)
    assert re.fullmatch(r"fusion-\d{8}-\d{6}-\d{6}\.json", log.path.name) and log.path.parent == tmp_path / "experiments"
    written = json.loads(log.path.read_text())
    assert (written["task"], written["seed"], written["config"], written["epochs"]) == ("fusion", 5, {"lr": 0.01, "sizes": [32, 16]}, [])
    assert written["versions"]["torch"] == package_versions()["torch"] and "finished" not in written
    log.epoch({"epoch": 1, "eer": np.float32(0.25)})
    log.epoch({"epoch": 2, "eer": float("nan")})
    assert json.loads(log.path.read_text())["epochs"] == [{"epoch": 1, "eer": 0.25}, {"epoch": 2, "eer": "nan"}]
    log.finish(best_epoch=1)
    finished = json.loads(log.path.read_text())
    assert finished["best_epoch"] == 1 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", finished["finished"])
    assert [p.name for p in log.path.parent.iterdir()] == [log.path.name]


def test_an_epoch_that_cannot_be_written_leaves_the_last_good_record(tmp_path):
    log = ExperimentLog(tmp_path, "liveness", {}, seed=0)
    log.epoch({"epoch": 1, "acer": 0.1})
    before = log.path.read_text()
    with pytest.raises(RuntimeError, match="no text for this key"):
        log.epoch({_Unprintable(): 0.2})
    assert log.path.read_text() == before and [p.name for p in tmp_path.iterdir()] == [log.path.name]


def test_one_seed_repeats_python_numpy_and_torch_draws():
    def draws():
        return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()

    seed_everything(11)
    first = draws()
    seed_everything(11)
    assert draws() == first
    seed_everything(12)
    assert all(a != b for a, b in zip(draws(), first))


def test_package_versions_name_the_libraries_a_run_used(monkeypatch):
    versions = package_versions()
    assert {"python", "platform", "faceauth", "torch", "numpy", "ray", "optuna"} <= set(versions)
    assert versions["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert versions["numpy"] == np.__version__
    for name in ("ray", "optuna"):
        assert re.match(r"\d+\.\d+", versions[name]), versions[name]
    assert versions["ray"].startswith("2.60.")  # pyproject pins Ray 2.60 (the sealed resume relies on it)
    monkeypatch.setattr(runlog, "PACKAGES", ("torch", "faceauth-no-such-package"))
    assert package_versions()["faceauth-no-such-package"] == "not installed"


def test_numpy_nan_and_inf_become_valid_json():
    import json

    import numpy as np

    text = json.dumps(to_jsonable({"eer": np.float64("nan"), "far": np.float32("inf"), "n": np.int64(3)}), allow_nan=False)
    assert json.loads(text) == {"eer": "nan", "far": "inf", "n": 3}


def test_a_write_that_fails_names_the_file_the_user_named():
    with pytest.raises(OSError) as caught:
        atomic_write_text("/proc/faceauth-test.json", "{}")  # /proc takes no new files
    assert caught.value.filename == "/proc/faceauth-test.json"
