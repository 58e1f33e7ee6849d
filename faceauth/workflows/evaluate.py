"""Evaluation as a workflow: a trained model beside its baselines on test data, on each fold's test side
of a protocol, or (a fusion model) on verification benchmarks as the field ships them; each writes its
JSON and returns what it wrote. `faceauth evaluate` and `faceauth.evaluate(...)` call these.

A checkpoint may come from anywhere, so paths read from it are not followed: a model trained on files
needs test data named, and caches go to the default folder, not to one the checkpoint names.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from faceauth.evaluation.verdict import build_verdict
from faceauth.io.errors import FaceauthError
from faceauth.io.formatting import benchmark_table, evaluation_table
from faceauth.io.log import logger
from faceauth.io.outputs import check_output
from faceauth.io.runlog import atomic_write_text, to_jsonable
from faceauth.tasks import get_task, load_task_checkpoint
from faceauth.tasks.fusion.benchmark_scores import evaluate_benchmarks
from faceauth.tasks.fusion.embedders import parse_embedders
from faceauth.tasks.fusion.task import FusionTask
from faceauth.tasks.pad import PresentationAttackTask
from faceauth.workflows.protocols import evaluate_protocol, table_keys


@dataclass(frozen=True)
class EvaluateRequest:
    """What `faceauth evaluate` (and `faceauth.evaluate(...)`) is asked: the model, and its test data
    as a path, a protocol's folds, or verification benchmarks with the embedders that read them.
    Checked where it is built (the message names the flag)."""

    model_path: str
    test_data: Optional[str] = None
    output_json: Optional[str] = None  # default: beside the model, <name>.eval.json
    protocol: Optional[str] = None  # PAD models: each fold's test side
    protocol_objective: Literal["worst", "mean", "mean_plus_std"] = "worst"
    data_root: Optional[str] = None  # with protocol: the data the folds are cut from
    benchmarks: tuple[str, ...] = ()  # fusion models: .bin files, LFW folders or pairs.txt files
    embedders: tuple[str, ...] = ()  # with benchmarks: NAME=MODEL.onnx[,settings]
    cache_dir: Optional[str] = None  # with benchmarks: where their embeddings are cached

    def __post_init__(self) -> None:
        if (self.benchmarks or self.embedders) and (self.test_data or self.protocol):
            raise FaceauthError(f"--benchmark is the test data: drop {'--test-data' if self.test_data else '--protocol'}, "
                                "or evaluate the benchmarks in a separate run")


def evaluate(request: EvaluateRequest) -> dict:
    """The evaluation the request asks for; returns what it wrote to its JSON (and where)."""
    if request.benchmarks or request.embedders:
        return run_benchmarks(request.model_path, list(request.benchmarks), list(request.embedders), request.cache_dir,
                              request.output_json)
    if request.protocol:
        return evaluate_on_protocol(request.model_path, request.protocol, request.data_root, request.protocol_objective,
                                    request.test_data, request.output_json)
    return run_evaluation(request.model_path, request.test_data, request.output_json)


# Where a run wrote or cached things: reset to their defaults rather than followed from a checkpoint.
WRITTEN_PATHS = ("cache_dir", "log_dir", "output", "output_dir")


def without_stored_paths(task, checkpoint: dict, model_path: str) -> dict:
    """The checkpoint's config, trusted only where it names no files: its data must be synthetic
    (regenerated from the seed it records); where a run cached or wrote becomes the default."""
    config = dict(checkpoint.get("config") or {})
    named = [key for key in (*task.data_keys, "test_data") if config.get(key)]
    if named:
        raise FaceauthError(f"{model_path} was trained on {named[0]} {config[named[0]]!r}; pass --test-data PATH. faceauth does "
                            "not follow data paths read from a checkpoint, which may come from anywhere")
    defaults = {f.name: f.default for f in dataclasses.fields(task.config_cls)}
    config.update({key: defaults[key] for key in WRITTEN_PATHS if key in config and key in defaults})
    return {**checkpoint, "config": config}


def run_evaluation(model_path: str | Path, test_data: str | None = None, output_json: str | Path | None = None) -> dict:
    """Evaluate, log the table, write the JSON; returns what it wrote (task, verdict, metrics by
    system, details). For the command and for `faceauth.evaluate(...)`."""
    output = Path(output_json or Path(model_path).with_suffix(".eval.json"))
    check_output(output, "--output-json", [model_path, test_data])

    checkpoint = load_task_checkpoint(model_path)
    task = get_task(checkpoint["task"])
    if test_data is None:
        checkpoint = without_stored_paths(task, checkpoint, str(model_path))
    evaluation = task.evaluate(checkpoint, test_data)
    verdict = build_verdict(evaluation, task.objective, task.verdict_advice) if evaluation.groups is not None else None
    if verdict:
        logger.info(verdict["summary"])
    logger.info(f"{task.name} model {model_path} on {evaluation.details.get('data', test_data)}")
    logger.info(evaluation_table(evaluation.metrics))
    written = to_jsonable({"task": task.name, "model_path": str(model_path), "verdict": verdict,
                           "metrics": evaluation.metrics, "details": evaluation.details})
    atomic_write_text(output, json.dumps(written, indent=2))
    logger.info(f"metrics written to {output}")
    return {**written, "output_json": str(output)}


def run_benchmarks(model_path: str | Path, benchmarks: list[str], embedders: list[str], cache_dir: str | None = None,
                   output_json: str | Path | None = None) -> dict:
    """A fusion model and its baselines on each benchmark: log the tables, write the JSON (task,
    model_path, benchmarks: name -> figures per system and verdict); returns what it wrote."""
    output = Path(output_json or Path(model_path).with_suffix(".eval.json"))
    if not benchmarks:
        raise FaceauthError("--embedder is for --benchmark: name the benchmarks to embed (--benchmark lfw.bin ...)")
    if not embedders:
        raise FaceauthError("--benchmark needs the models whose embeddings the model fuses: one --embedder NAME=MODEL.onnx "
                            "per model, named as in training (e.g. --embedder arcface=arcface.onnx)")
    check_output(output, "--output-json", [model_path, *benchmarks])
    checkpoint = load_task_checkpoint(model_path)
    task = get_task(checkpoint["task"])
    if not isinstance(task, FusionTask):
        raise FaceauthError(f"--benchmark is for fusion models (face verification); {model_path} is a {task.name} model")
    results = evaluate_benchmarks(task.load_model(checkpoint), checkpoint["model_args"], benchmarks,
                                  parse_embedders(embedders), cache_dir)
    for name, result in results.items():
        logger.info(f"\n{benchmark_table(name, result)}")
    written = to_jsonable({"task": task.name, "model_path": str(model_path), "benchmarks": results})
    atomic_write_text(output, json.dumps(written, indent=2))
    logger.info(f"metrics written to {output}")
    return {**written, "output_json": str(output)}


def evaluate_on_protocol(model_path: str | Path, protocol: str, data_root: str | None, objective: str = "worst",
                         test_data: str | None = None, output_json: str | Path | None = None) -> dict:
    """The model and its baselines on every fold's test side, at the model's validation threshold."""
    output = Path(output_json or Path(model_path).with_suffix(".eval.json"))
    check_output(output, "--output-json", [model_path, data_root])
    checkpoint = load_task_checkpoint(model_path)
    task = get_task(checkpoint["task"])
    if not isinstance(task, PresentationAttackTask):
        raise FaceauthError(f"--protocol is for the PAD tasks; {task.name} has no protocols")
    if test_data:
        raise FaceauthError("--protocol decides the test data (each fold's test side); drop --test-data, or use --data-root")
    results = evaluate_protocol(task, checkpoint, protocol, data_root, objective)
    logger.info(f"{task.name} model {model_path} on the test side of each fold of protocol {protocol}:")
    for name, metrics in results["folds"].items():
        logger.info(f"\n{name}:\n{evaluation_table(metrics)}")
    logger.info(f"\naggregate ({objective}):\n{evaluation_table(results['aggregate'])}")
    if len(results["folds"]) > 1:
        keys = table_keys(protocol)
        logger.info(f"\nmean ± std over the {len(results['folds'])} folds:")
        for system, spread in results["mean_std"].items():
            logger.info(f"  {system}: " + ", ".join(f"{k} {spread[k][0]:.4f} ± {spread[k][1]:.4f}" for k in keys if k in spread))
    written = to_jsonable({"task": task.name, "model_path": str(model_path), "protocol": protocol,
                           "protocol_objective": objective, **results})
    atomic_write_text(output, json.dumps(written, indent=2))
    logger.info(f"metrics written to {output}")
    return {**written, "output_json": str(output)}
