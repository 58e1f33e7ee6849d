"""The epoch loop every task shares (faceauth.training.fit.fit) on its own: divergence, early stopping, the
validated start, and resuming from a checkpoint."""

import pytest
import torch

from faceauth.training.config import TrainConfig
from faceauth.training.fit import Objective, TrainingDiverged, fit
from faceauth.training.session import LocalSession


def test_nan_loss_ends_the_run_with_the_reason():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1"):
        fit(task="t", config=TrainConfig(epochs=3), session=LocalSession(), model=model, model_args={},
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_epoch=lambda epoch: float("nan"),
            validate=lambda: {"m": 0.0}, objective=Objective("m", "max"))


def test_early_stopping_and_best_checkpoint():
    model = torch.nn.Linear(2, 2)
    values = iter([0.5, 0.7, 0.6, 0.6, 0.6, 0.9])
    session = LocalSession()
    fit(task="t", config=TrainConfig(epochs=6, patience=2), session=session, model=model, model_args={},
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_epoch=lambda epoch: 1.0,
        validate=lambda: {"m": next(values)}, objective=Objective("m", "max"))
    assert [h["epoch"] for h in session.history] == [1, 2, 3, 4]
    assert session.last_checkpoint["epoch"] == 2 and session.last_checkpoint["best"] == 0.7


def test_start_is_kept_when_training_does_not_beat_it():
    model = torch.nn.Linear(2, 2)
    values = iter([0.8, 0.5, 0.6])
    session = LocalSession()
    fit(task="t", config=TrainConfig(epochs=2, patience=0), session=session, model=model, model_args={},
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_epoch=lambda epoch: 1.0,
        validate=lambda: {"m": next(values)}, objective=Objective("m", "max"), validate_start=True)
    assert [h["epoch"] for h in session.history] == [0, 1, 2] and session.history[-1]["completed"]
    assert session.last_checkpoint["epoch"] == 0 and session.last_checkpoint["best"] == 0.8


class RestoringSession(LocalSession):
    """A session that hands back a checkpoint, as Tune does when it retries or resumes a trial."""

    def __init__(self, checkpoint):
        super().__init__()
        self.checkpoint = checkpoint

    def restore(self):
        return self.checkpoint


def test_a_resumed_run_continues_after_its_checkpoint_with_its_weights_and_best():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    first = LocalSession()
    values = iter([0.5, 0.7])
    fit(task="t", config=TrainConfig(epochs=2, patience=0), session=first, model=model, model_args={},
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_epoch=lambda epoch: 1.0,
        validate=lambda: {"m": next(values)}, objective=Objective("m", "max"))
    saved = first.last_checkpoint
    assert saved["epoch"] == 2 and saved["best"] == 0.7

    fresh = torch.nn.Linear(2, 2)  # other weights: the resumed run must load the checkpoint's
    trained_epochs = []
    later = iter([0.6, 0.8])
    session = RestoringSession(saved)
    fit(task="t", config=TrainConfig(epochs=4, patience=0), session=session, model=fresh, model_args={},
        optimizer=torch.optim.SGD(fresh.parameters(), lr=0.1), train_epoch=lambda epoch: trained_epochs.append(epoch) or 1.0,
        validate=lambda: {"m": next(later)}, objective=Objective("m", "max"))
    assert trained_epochs == [3, 4] and [h["epoch"] for h in session.history] == [3, 4]
    assert session.history[0]["best_m"] == 0.7  # epoch 3 (0.6) does not beat the restored best
    assert session.last_checkpoint["epoch"] == 4 and session.last_checkpoint["best"] == 0.8
    assert session.history[-1]["completed"]


def test_a_resumed_run_loads_the_checkpoint_weights():
    model = torch.nn.Linear(2, 2)
    first = LocalSession()
    fit(task="t", config=TrainConfig(epochs=1), session=first, model=model, model_args={}, optimizer=None,
        train_epoch=None, validate=lambda: {"m": 0.5}, objective=Objective("m", "max"), validate_start=True)
    fresh = torch.nn.Linear(2, 2)
    seen = []
    fit(task="t", config=TrainConfig(epochs=1), session=RestoringSession(first.last_checkpoint), model=fresh,
        model_args={}, optimizer=None, train_epoch=lambda epoch: seen.append({k: v.clone() for k, v in fresh.state_dict().items()}) or 1.0,
        validate=lambda: {"m": 0.5}, objective=Objective("m", "max"))
    assert len(seen) == 1 and all(torch.equal(seen[0][k], v) for k, v in model.state_dict().items())


def test_a_tie_does_not_replace_the_kept_model_nor_reset_patience():
    model = torch.nn.Linear(2, 2)
    values = iter([0.5, 0.7, 0.7, 0.6])
    session = LocalSession()
    fit(task="t", config=TrainConfig(epochs=4, patience=2), session=session, model=model, model_args={},
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_epoch=lambda epoch: 1.0,
        validate=lambda: {"m": next(values)}, objective=Objective("m", "max"))
    assert session.last_checkpoint["epoch"] == 2
    assert session.history[-1]["epoch"] == 4 and session.history[-1].get("early_stopped")


def test_a_better_epoch_replaces_the_start_only_when_beats_start_agrees():
    for agrees, kept in ((False, 0), (True, 1)):
        model = torch.nn.Linear(2, 2)
        values = iter([0.5, 0.9])
        session = LocalSession()
        fit(task="t", config=TrainConfig(epochs=1, patience=0), session=session, model=model, model_args={},
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_epoch=lambda epoch: 1.0,
            validate=lambda: {"m": next(values)}, objective=Objective("m", "max"), validate_start=True,
            beats_start=lambda agrees=agrees: agrees)
        assert session.last_checkpoint["epoch"] == kept


def test_the_kept_checkpoint_holds_the_weights_of_its_epoch_not_later_ones():
    """A session that keeps checkpoints in memory (a standalone run, a protocol's folds) must not see
    later training through them."""
    model = torch.nn.Linear(2, 2)
    start = model.weight.detach().clone()
    values = iter([0.7, 0.5])

    def train_epoch(epoch):
        with torch.no_grad():
            model.weight.add_(1.0)
        return 1.0

    session = LocalSession()
    fit(task="t", config=TrainConfig(epochs=2, patience=0), session=session, model=model, model_args={},
        optimizer=None, train_epoch=train_epoch, validate=lambda: {"m": next(values)}, objective=Objective("m", "max"))
    assert session.last_checkpoint["epoch"] == 1
    assert torch.equal(session.last_checkpoint["state_dict"]["weight"], start + 1.0)
