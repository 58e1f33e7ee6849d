"""The seam between a train_loop and its runner (faceauth.training.session): LocalSession keeps every report
and the last checkpoint, `use_session` installs a session for the block and puts back the one before
(nested, on errors, per thread), `current()` outside any is a fresh LocalSession, and `resolve_device`
maps cpu/auto/cuda with a clear error where torch has no CUDA. No Ray."""

import contextlib
import threading

import pytest
import torch

from faceauth.io.errors import FaceauthError
from faceauth.training import session as session_module
from faceauth.training.checkpoint import make_checkpoint, save_checkpoint
from faceauth.training.session import CHECKPOINT_FILE, LocalSession, current, resolve_device, use_session


def test_a_local_session_keeps_each_report_and_the_last_checkpoint():
    seen = []
    local = LocalSession(on_report=lambda metrics, saved: seen.append((metrics["epoch"], saved)))
    first = {"epoch": 1, "eer": 0.3}
    local.report(first, checkpoint={"epoch": 1})
    first["eer"] = 99.0  # the trainer reuses its dict: the history kept a copy
    local.report({"epoch": 2, "eer": 0.4})
    local.report({"epoch": 3, "eer": 0.2}, checkpoint={"epoch": 3})
    local.report({"epoch": 4, "eer": 0.25})
    assert local.history == [{"epoch": 1, "eer": 0.3}, {"epoch": 2, "eer": 0.4}, {"epoch": 3, "eer": 0.2},
                             {"epoch": 4, "eer": 0.25}]
    assert local.last_checkpoint == {"epoch": 3}  # an epoch without a checkpoint does not clear it
    assert seen == [(1, True), (2, False), (3, True), (4, False)]


def test_a_local_session_has_nothing_to_restore_and_is_one_worker():
    local = LocalSession()
    local.report({"epoch": 1}, checkpoint={"epoch": 1})  # no on_report: nothing to call
    assert local.restore() is None  # a standalone run never resumes from its own reports
    assert (local.world_rank, local.world_size) == (0, 1)
    assert local.device("cpu") == torch.device("cpu")
    model = torch.nn.Linear(2, 2)
    assert local.prepare_model(model, torch.device("cpu")) is model


def test_current_outside_any_session_is_a_fresh_local_session():
    first, second = current(), current()
    assert isinstance(first, LocalSession) and isinstance(second, LocalSession)
    first.report({"epoch": 1})
    assert first is not second and second.history == []  # a bare train_loop's reports go nowhere shared


def test_use_session_nests_and_puts_back_the_one_before():
    outer, inner = LocalSession(), LocalSession()
    with use_session(outer) as installed:
        assert installed is outer and current() is outer
        with use_session(inner):
            assert current() is inner
        assert current() is outer
    assert current() is not outer and current() is not inner


def test_use_session_puts_back_the_one_before_when_the_block_fails():
    outer, inner = LocalSession(), LocalSession()
    with use_session(outer):
        with pytest.raises(ValueError, match="diverged"):
            with use_session(inner):
                raise ValueError("diverged")
        assert current() is outer


def test_each_thread_has_its_own_session():
    main, fold = LocalSession(), LocalSession()
    seen = {}
    installed, leave = threading.Event(), threading.Event()

    def fold_thread():
        seen["before"] = current()
        with use_session(fold):
            seen["inside"] = current()
            installed.set()
            leave.wait(5)

    with use_session(main):
        thread = threading.Thread(target=fold_thread)
        thread.start()
        assert installed.wait(5)
        assert current() is main  # the fold's session does not reach this thread
        leave.set()
        thread.join(5)
    assert seen["inside"] is fold and seen["before"] is not main


def test_resolve_device_for_cpu_and_auto(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda") and resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")  # asked for: the CPU even where a GPU is


def test_cuda_without_a_gpu_says_what_to_use_instead(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(FaceauthError) as raised:
        resolve_device("cuda")
    message = str(raised.value)
    assert message.startswith("device cuda: this machine has no CUDA GPU that torch can use")
    assert "use --device auto or cpu" in message
    with pytest.raises(FaceauthError, match="no CUDA GPU"):
        LocalSession().device("cuda")


class _StoredCheckpoint:
    """What Ray's get_checkpoint() returns, as far as _load_from uses it: a folder to open."""

    def __init__(self, folder):
        self.folder = folder

    @contextlib.contextmanager
    def as_directory(self):
        yield str(self.folder)


def test_a_restored_checkpoint_is_read_from_the_model_file_of_its_folder(tmp_path):
    model = torch.nn.Linear(1, 1)
    save_checkpoint(make_checkpoint("liveness", {"image_size": 32}, model, epoch=5), tmp_path / CHECKPOINT_FILE)
    assert CHECKPOINT_FILE == "model.pt"
    restored = session_module._load_from(_StoredCheckpoint(tmp_path))
    assert (restored["task"], restored["model_args"], restored["epoch"]) == ("liveness", {"image_size": 32}, 5)
    assert session_module._load_from(None) is None  # a first attempt: nothing to resume
