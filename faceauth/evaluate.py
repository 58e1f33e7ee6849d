"""Evaluate a trained model on test data, beside its baselines on the same pairs or samples:

    python -m faceauth.evaluate --model-path weights/fusion_mlp.pth --test-data test_embeddings.parquet

Without --test-data, the test split of the model's synthetic training data, regenerated from its
seed. A fusion model on the verification benchmarks as the field ships them, with its embedders:

    python -m faceauth.evaluate --model-path fusion.pth --benchmark lfw.bin --benchmark agedb_30.bin \
        --embedder arcface=arcface.onnx --embedder facenet=facenet.onnx

--benchmark takes an insightface .bin, an LFW folder holding pairs.txt, or a pairs.txt; each reports
the 10-fold accuracy (mean ± std) of the fused model and every baseline, with the verdict. A checkpoint may come from anywhere, so paths read from it are not followed: a model trained on
files needs --test-data, and caches go to the default folder, not to one the checkpoint names.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from faceauth import make_callable_module
from faceauth.commands.cli import HelpFormatter, exits_cleanly
from faceauth.io.formatting import prog
from faceauth.io.log import logger
from faceauth.io.outputs import check_output
from faceauth.io.errors import FaceauthError
from faceauth.io.formatting import benchmark_table, evaluation_table
from faceauth.workflows.protocols import evaluate_protocol, table_keys
from faceauth.tasks.protocols import OBJECTIVES
from faceauth.io.runlog import atomic_write_text, to_jsonable
from faceauth.tasks import get_task, load_task_checkpoint
from faceauth.tasks.fusion.benchmark_scores import evaluate_benchmarks
from faceauth.tasks.fusion.embedders import parse_embedders
from faceauth.tasks.fusion.task import FusionTask
from faceauth.tasks.pad import PresentationAttackTask
from faceauth.evaluation.verdict import build_verdict


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


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("evaluate"), description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--model-path", "--model_path", dest="model_path", required=True)
    parser.add_argument("--test-data", "--test_data", dest="test_data", help="test data (fusion: a Parquet file; liveness: a folder with live/ and spoof/, or a data_root)")
    parser.add_argument("--output-json", "--output_json", dest="output_json",
                        help="where the metrics go (default: beside the model, <name>.eval.json)")
    parser.add_argument("--protocol", metavar="NAME|FILE",
                        help="PAD models: score the model on each fold's test side of this protocol (faceauth.tasks.protocols)")
    parser.add_argument("--protocol-objective", "--protocol_objective", dest="protocol_objective", default="worst",
                        choices=OBJECTIVES, help="how the folds' figures are aggregated (default worst)")
    parser.add_argument("--data-root", "--data_root", dest="data_root", metavar="DIR",
                        help="with --protocol: the data the folds are cut from (default: the model's training data)")
    parser.add_argument("--benchmark", action="append", metavar="BENCHMARK",
                        help="fusion models: a verification benchmark, once per benchmark: an insightface .bin (lfw.bin, "
                             "cfp_fp.bin, agedb_30.bin, ...), an LFW folder holding pairs.txt, or a pairs.txt")
    parser.add_argument("--embedder", action="append", metavar="NAME=MODEL.onnx",
                        help="with --benchmark: each ONNX model the fused model fuses, named as in training")
    parser.add_argument("--cache-dir", "--cache_dir", dest="cache_dir", metavar="DIR",
                        help="with --benchmark: where embeddings are cached (default: .faceauth-cache/ beside each benchmark)")
    args = parser.parse_args(argv)
    if args.benchmark or args.embedder:
        if args.test_data or args.protocol:
            raise FaceauthError(f"--benchmark is the test data: drop {'--test-data' if args.test_data else '--protocol'}, "
                                "or evaluate the benchmarks in a separate run")
        run_benchmarks(args.model_path, args.benchmark or [], args.embedder or [], args.cache_dir, args.output_json)
    elif args.protocol:
        evaluate_on_protocol(args.model_path, args.protocol, args.data_root, args.protocol_objective, args.test_data,
                             args.output_json)
    else:
        run_evaluation(args.model_path, args.test_data, args.output_json)
    return 0


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


make_callable_module(__name__)  # faceauth.evaluate(...) calls faceauth.api.evaluate

if __name__ == "__main__":
    sys.exit(main())

