"""What an evaluation returns: the model's and its baselines' metrics and scores on the same test items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Evaluation:
    """Metrics of the model and its baselines on the same samples or pairs.

    `metrics` maps a system name to its metric dict; the first entry is the model, the rest are
    baselines. `scores` maps a system name to (positive, negative) score arrays for ROC/DET plots
    (genuine/impostor pairs for verification, attack/bona fide for PAD).
    """

    metrics: dict[str, dict[str, float]]
    scores: dict[str, tuple[np.ndarray, np.ndarray]]
    details: dict[str, Any] = field(default_factory=dict)
    # The independent units behind each score, for bootstrap intervals (faceauth.evaluation.verdict): for the
    # positive and the negative scores, an int array of shape (n,) (the video or subject of a sample)
    # or (n, 2) (the two identities of a pair). The same for every system: they score the same items.
    groups: tuple[np.ndarray, np.ndarray] | None = None
    # The attack type of each positive (attack) score, for APCER per type in bootstrap intervals.
    attack_types: np.ndarray | None = None
    # Verification benchmarks scored beside the test data (fusion's `benchmarks`: name -> figures per
    # system and verdict, faceauth.tasks.fusion.benchmark_scores); empty when none were asked for.
    benchmarks: dict[str, Any] = field(default_factory=dict)

    @property
    def model_metrics(self) -> dict[str, float]:
        return next(iter(self.metrics.values()))
