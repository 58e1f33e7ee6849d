"""Checkpoints (faceauth.training.checkpoint): made from a model (unwrapped from DDP, detached copies), saved
atomically and loaded back with `weights_only`; a file that is not a complete faceauth checkpoint, or a
pickle holding code, is a FaceauthError naming the file, and no code runs."""

import errno
import pickle

import pytest
import torch

from faceauth.io.errors import FaceauthError
from faceauth.training.checkpoint import FORMAT, load_checkpoint, make_checkpoint, save_checkpoint


def _linear() -> torch.nn.Linear:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
        model.bias.copy_(torch.tensor([0.5]))
    return model


class _Wrapped(torch.nn.Module):
    """What DistributedDataParallel looks like to make_checkpoint: the real model under `.module`."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module


class _RunsCode:
    """Unpickling this opens (creates) the marker file: code a checkpoint must never run."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_round_trips_through_a_file(tmp_path):
    model = _linear()
    checkpoint = make_checkpoint("fusion", {"in_dim": 2, "out_dim": 1}, model, epoch=3, metrics={"eer": 0.125})
    assert checkpoint["format"] == FORMAT == "faceauth-checkpoint/1"
    assert (checkpoint["task"], checkpoint["model_args"], checkpoint["epoch"]) == ("fusion", {"in_dim": 2, "out_dim": 1}, 3)
    assert sorted(checkpoint["state_dict"]) == ["bias", "weight"]
    path = save_checkpoint(checkpoint, tmp_path / "runs" / "model.pt")  # the folder is made
    assert path == tmp_path / "runs" / "model.pt" and sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]
    loaded = load_checkpoint(str(path))
    assert loaded["metrics"] == {"eer": 0.125} and loaded["epoch"] == 3 and loaded["task"] == "fusion"
    assert loaded["state_dict"]["weight"].tolist() == [[1.0, 2.0]] and loaded["state_dict"]["bias"].tolist() == [0.5]
    rebuilt = torch.nn.Linear(2, 1)
    rebuilt.load_state_dict(loaded["state_dict"])
    assert rebuilt(torch.tensor([[1.0, 1.0]])).item() == 3.5  # 1*1 + 2*1 + 0.5


def test_the_state_is_a_detached_copy_and_a_wrapped_model_is_unwrapped():
    model = _linear()
    checkpoint = make_checkpoint("fusion", {}, _Wrapped(model))
    assert sorted(checkpoint["state_dict"]) == ["bias", "weight"]  # not module.weight
    with torch.no_grad():
        model.weight.fill_(9.0)  # training goes on after the checkpoint was taken
    assert checkpoint["state_dict"]["weight"].tolist() == [[1.0, 2.0]]
    assert not checkpoint["state_dict"]["weight"].requires_grad


def test_a_missing_file_is_named_with_what_to_pass(tmp_path):
    with pytest.raises(FaceauthError, match=r"checkpoint .*nowhere\.pt does not exist; pass the model\.pt"):
        load_checkpoint(tmp_path / "nowhere.pt")


def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path):
    junk = tmp_path / "notes.pt"
    junk.write_text("hello, this is not a checkpoint\n")
    with pytest.raises(FaceauthError) as raised:
        load_checkpoint(junk)
    message = str(raised.value)
    assert message.startswith(f"checkpoint {junk} could not be loaded safely")
    assert "weights_only=False" not in message  # torch's advice to load unsafely is not passed on


def test_a_truncated_checkpoint_is_named(tmp_path):
    whole = save_checkpoint(make_checkpoint("fusion", {}, _linear()), tmp_path / "whole.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(FaceauthError, match=f"checkpoint {cut} could not be loaded safely: it is not plain tensors"):
        load_checkpoint(cut)


def test_a_pickle_holding_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "code-ran"
    planted = tmp_path / "planted.pt"
    torch.save({"format": FORMAT, "task": "fusion", "model_args": {}, "state_dict": {}, "x": _RunsCode(str(marker))},
               planted)
    with pytest.raises(FaceauthError) as raised:
        load_checkpoint(planted)
    assert str(planted) in str(raised.value) and "one holding code, which faceauth never loads" in str(raised.value)
    assert not marker.exists()


def test_a_torch_file_without_the_format_is_not_a_faceauth_checkpoint(tmp_path):
    for name, content in (("weights.pt", {"weight": torch.ones(2)}), ("list.pt", [1, 2]),
                          ("other.pt", {"format": "faceauth-checkpoint/0", "task": "fusion"})):
        torch.save(content, tmp_path / name)
        with pytest.raises(FaceauthError, match=f"^{tmp_path / name} is not a faceauth checkpoint "
                                                r"\(expected a dict with format 'faceauth-checkpoint/1'\)$"):
            load_checkpoint(tmp_path / name)


def test_a_checkpoint_missing_keys_names_the_file_and_each_key(tmp_path):
    path = tmp_path / "partial.pt"
    torch.save({"format": FORMAT, "task": "fusion"}, path)
    with pytest.raises(FaceauthError, match=f"^checkpoint {path} lacks model_args, state_dict: not a complete"):
        load_checkpoint(path)
    torch.save({"format": FORMAT, "model_args": {}, "state_dict": {}}, path)
    with pytest.raises(FaceauthError, match=f"^checkpoint {path} lacks task:"):
        load_checkpoint(path)
    torch.save({"format": FORMAT, "task": "fusion", "model_args": [2, 1], "state_dict": {}}, path)
    with pytest.raises(FaceauthError, match=f"^checkpoint {path}: model_args and state_dict must be mappings$"):
        load_checkpoint(path)


def test_a_failing_save_leaves_the_old_checkpoint_whole(tmp_path):
    path = save_checkpoint(make_checkpoint("fusion", {"version": 1}, _linear()), tmp_path / "model.pt")
    before = path.read_bytes()
    unpicklable = make_checkpoint("fusion", {"version": 2}, _linear(), callback=lambda: None)
    with pytest.raises((pickle.PicklingError, AttributeError), match="pickle"):
        save_checkpoint(unpicklable, path)
    assert path.read_bytes() == before and load_checkpoint(path)["model_args"] == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no model.pt.tmp left behind


@pytest.mark.parametrize("torch_says, code", [
    ("PytorchStreamWriter failed writing file data/0: file write failed (No space left on device)", errno.ENOSPC),
    ("[Errno 30] Read-only file system", errno.EROFS),
    ("unexpected pos 64 vs 0", errno.EIO),
])
def test_a_write_error_from_torch_is_an_os_error_naming_the_checkpoint(tmp_path, monkeypatch, torch_says, code):
    path = save_checkpoint(make_checkpoint("fusion", {"version": 1}, _linear()), tmp_path / "model.pt")

    def failing_save(obj, target):
        with open(target, "wb") as handle:
            handle.write(b"half a zip")
        raise RuntimeError(torch_says)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError) as raised:
        save_checkpoint(make_checkpoint("fusion", {"version": 2}, _linear()), path)
    assert raised.value.errno == code and raised.value.filename == str(path)
    assert raised.value.strerror == torch_says  # one line, under 120 characters: kept whole
    monkeypatch.undo()
    assert load_checkpoint(path)["model_args"] == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
