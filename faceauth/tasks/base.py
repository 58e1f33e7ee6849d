"""What a task is: the pieces the entry points and the search need, found through the registry."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from faceauth.config import TrainConfig
from faceauth.training import Objective


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
    # The independent units behind each score, for bootstrap intervals (faceauth.verdict): for the
    # positive and the negative scores, an int array of shape (n,) (the video or subject of a sample)
    # or (n, 2) (the two identities of a pair). The same for every system: they score the same items.
    groups: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def model_metrics(self) -> dict[str, float]:
        return next(iter(self.metrics.values()))


@dataclass(frozen=True)
class OnnxSpec:
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    # (batch, check) -> inputs; check=True: other sizes than the export example on every dynamic axis.
    example_inputs: Callable[[int, bool], tuple[torch.Tensor, ...]]


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    config_cls: type[TrainConfig]
    train_loop: Callable[[dict[str, Any]], None]
    build_model: Callable[[dict[str, Any]], torch.nn.Module]  # from a checkpoint's model_args
    evaluate: Callable[[dict[str, Any], str | None], Evaluation]  # (checkpoint, test data or None)
    onnx_spec: Callable[[dict[str, Any]], OnnxSpec]  # from model_args
    objective: Objective
    metric_names: tuple[str, ...]  # what validate() reports each epoch; a search may optimise any of them
    # Loads and checks the configured data (raising FaceauthError naming the problem) and returns a
    # one-line summary; the search calls it before Ray starts, so bad data never reaches a trial.
    check_data: Callable[[Any], str]
    # Config keys that name real data; when none is set, searches use the task's synthetic data.
    data_keys: tuple[str, ...]
    add_cli_flags: Callable[[argparse.ArgumentParser], None]  # the task's own flags for faceauth.train
    # Extra fields for metrics.json (e.g. the preprocessing an ONNX consumer must apply).
    deployment_info: Callable[[dict[str, Any]], dict[str, Any]]
    # Config overrides for --smoke-test: a few steps on tiny data through the whole path.
    smoke_overrides: Callable[[TrainConfig], dict[str, Any]]
    # The selected model fitted again on training + validation data (checkpoint -> checkpoint), run
    # when the config's `refit` is on; None: the task has no refit.
    refit: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # What the verdict suggests when the model does not beat a baseline.
    verdict_advice: str = ""
