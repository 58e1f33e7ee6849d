"""The terminal's lines while a search runs (faceauth.tuning.progress): one line a trial as it ends, with
the value it keeps and which epoch that was, its status in trials.parquet's words, cut to 120 columns;
the status line names the best so far by the trial's name."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from faceauth.tuning.progress import WIDTH, ProgressLines


@dataclass
class Trial:  # what the callback reads of Tune's Trial: its name, config, last result and status
    name: str
    config: dict = field(default_factory=dict)
    last_result: dict = field(default_factory=dict)
    status: str = "TERMINATED"

    def __str__(self) -> str:
        return self.name


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def lines():
    """The faceauth logger's messages, as the terminal shows them."""
    logger, handler = logging.getLogger("faceauth"), Collect()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_line_gives_the_kept_value_and_its_epoch(lines):
    progress = ProgressLines("eer", "min", 4, ("lr", "loss"))
    ended = {"epoch": 5, "kept_epoch": 3, "best_eer": 0.0312, "eer": 0.0401, "completed": True, "time_total_s": 7.2}
    progress.on_trial_complete(0, [], Trial("liveness_0002", {"lr": 0.00123456, "loss": "focal", "seed": 0}, ended))
    progress.on_trial_complete(0, [], Trial("liveness_0003", {"lr": 0.01}, {"epoch": 1, "kept_epoch": 1, "best_eer": 0.2,
                                                                          "early_stopped": True}))
    progress.on_trial_error(0, [], Trial("liveness_0004", {"lr": 0.1}, {}))
    first, second, third = lines()
    assert first.split() == ["liveness_0002", "completed", "eer", "0.0312", "kept", "epoch", "3", "of", "5", "7", "s", "|",
                             "lr", "0.001235,", "loss", "focal"]  # the kept value, not the last epoch's 0.0401
    assert "early stopped" in second and "kept epoch 1 of 1" in second
    assert third.startswith("liveness_0004") and "failed" in third and "eer -" in third


def test_the_status_line_names_the_best_trial_so_far(lines):
    progress = ProgressLines("tar_at_far_1e-3", "max", 3, ())
    progress.on_trial_complete(0, [], Trial("fusion_0000", {}, {"epoch": 2, "kept_epoch": 2, "best_tar_at_far_1e-3": 0.8}))
    progress.on_trial_complete(0, [], Trial("fusion_0001", {}, {"epoch": 2, "kept_epoch": 0, "best_tar_at_far_1e-3": 0.9}))
    progress.on_trial_complete(0, [], Trial("fusion_0002", {}, {"epoch": 1, "kept_epoch": 1, "best_tar_at_far_1e-3": 0.7}))
    progress._last_status -= 60  # the next step is due a status line
    progress.on_step_end(0, [Trial("fusion_0003", status="PENDING")])
    assert lines()[-1].endswith("3 of 3 trials ended, 0 running; best tar_at_far_1e-3 0.9000 (fusion_0001)")


def test_long_lines_are_cut_to_the_terminal_width(lines):
    progress = ProgressLines("eer", "min", 1, ("hidden_sizes",))
    progress.on_trial_complete(0, [], Trial("temporal_0000", {"hidden_sizes": list(range(100))},
                                            {"epoch": 1, "kept_epoch": 1, "best_eer": 0.1, "completed": True}))
    (line,) = lines()
    assert len(line) == WIDTH and line.endswith("...")
