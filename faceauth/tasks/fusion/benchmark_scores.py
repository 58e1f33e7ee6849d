"""The fused model and its baselines on verification benchmarks, reported as the field reports them.

Per benchmark and system: the 10-fold accuracy (mean and population std over the folds, each fold's
threshold chosen on the other nine: faceauth.evaluation.metrics.tenfold_accuracy), beside EER, ROC AUC and TAR
at FAR where there are impostor pairs enough for it. The verdict compares the fused model with each
baseline on the 10-fold accuracy, with a 95% bootstrap interval of the difference over the pairs
(.bin files carry no identities) or over the identities (LFW folders) (faceauth.evaluation.verdict).
The systems: the fused model, each embedder alone, score and embedding averaging (baselines.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from faceauth.io.errors import FaceauthError
from faceauth.training.fit import Objective
from faceauth.io.log import logger
from faceauth.evaluation.metrics import MIN_IMPOSTORS_BEYOND, TENFOLD_THRESHOLDS, enough_impostors, tenfold_accuracy, verification_metrics
from faceauth.tasks.fusion.baselines import baseline_embeddings
from faceauth.tasks.fusion.benchmark_embeddings import embed_benchmark
from faceauth.tasks.fusion.benchmarks import Benchmark, open_benchmark
from faceauth.tasks.fusion.embedders import EmbedderSpec
from faceauth.tasks.fusion.embedding_set import EmbeddingSet
from faceauth.tasks.fusion.image_embeddings import Log
from faceauth.tasks.fusion.model import embed
from faceauth.evaluation.verdict import RESAMPLES, tenfold_differences, verdict_of

OBJECTIVE = Objective("accuracy_10fold", "max")
FARS = ("1e-2", "1e-3")
FLIP_TEXT = "each image embedded as is and flipped left-right, the two embeddings summed (per embedder)"
GRID_TEXT = (f"squared L2 distance of unit embeddings; a pair is 'same' below the threshold; each fold's threshold is "
             f"the first best on the other folds of {TENFOLD_THRESHOLDS[0]:g}, {TENFOLD_THRESHOLDS[1]:g}, ..., "
             f"{TENFOLD_THRESHOLDS[-1]:g}")


def check_embedder_names(model_names: Sequence[str], specs: Sequence[EmbedderSpec]) -> None:
    """The embedders must be the ones the model fuses, by name (its model_args["model_names"])."""
    given = [spec.name for spec in specs]
    missing = [name for name in model_names if name not in given]
    extra = [name for name in given if name not in model_names]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"not in the model: {', '.join(extra)}"] if extra else [])
        raise FaceauthError(f"--embedder names must be the model's embedders {', '.join(model_names)} ({'; '.join(parts)}); "
                            f"give one --embedder NAME=MODEL.onnx for each, named as in training")


def system_embeddings(model: torch.nn.Module, model_names: Sequence[str], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every system's unit embedding of each image: fused, each embedder alone, the averaging baselines."""
    parts = [arrays[name] for name in model_names]
    data = EmbeddingSet(np.concatenate(parts, axis=1), np.zeros(len(parts[0]), np.int64), np.asarray(["-"]),
                        tuple(model_names), tuple(p.shape[1] for p in parts), "benchmark")
    fused = embed(model, data.embeddings, torch.device("cpu")).numpy()
    systems = {"fused": fused, **{name: arrays[name] for name in model_names}, **baseline_embeddings(data)}
    return {name: e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12) for name, e in systems.items()}


def system_figures(benchmark: Benchmark, embeddings: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """(the system's figures, each pair's right/wrong decision at its fold's threshold)."""
    distances = np.sum((embeddings[benchmark.first] - embeddings[benchmark.second]) ** 2, axis=1)
    tenfold = tenfold_accuracy(distances, benchmark.same, benchmark.folds)
    cosine = 1.0 - distances / 2.0
    metrics = verification_metrics(cosine[benchmark.same], cosine[~benchmark.same])
    impostors = int(np.count_nonzero(~benchmark.same))
    figures = {"accuracy_10fold": tenfold.mean, "accuracy_10fold_std": tenfold.std, "eer": metrics["eer"],
               "roc_auc": metrics["roc_auc"],
               **{f"tar_at_far_{far}": metrics[f"tar_at_far_{far}"] if enough_impostors(impostors, float(far)) else None
                  for far in FARS},
               "fold_accuracies": tenfold.fold_accuracies.tolist(), "fold_thresholds": tenfold.fold_thresholds.tolist()}
    return figures, tenfold.correct


def score_benchmark(benchmark: Benchmark, systems: dict[str, np.ndarray], resamples: int = RESAMPLES) -> dict[str, Any]:
    """One benchmark's figures per system and the verdict (the dict shape of faceauth.evaluation.verdict)."""
    figures, correct = {}, {}
    for name, embeddings in systems.items():
        figures[name], correct[name] = system_figures(benchmark, embeddings)
    differences = tenfold_differences(correct, benchmark.folds, benchmark.groups, resamples)
    units = int(np.unique(benchmark.groups).size)
    verdict = verdict_of(differences, {name: f["accuracy_10fold"] for name, f in figures.items()}, OBJECTIVE,
                         benchmark.unit, units, resamples)
    impostors = int(np.count_nonzero(~benchmark.same))
    notes = [f"TAR@FAR={far}: not enough impostor pairs ({impostors}; it needs {int(MIN_IMPOSTORS_BEYOND / float(far))}, "
             f"{MIN_IMPOSTORS_BEYOND} beyond the threshold)" for far in FARS if not enough_impostors(impostors, float(far))]
    return {"benchmark": str(benchmark.path), "pairs": len(benchmark), "genuine_pairs": int(benchmark.same.sum()),
            "impostor_pairs": impostors, "folds": benchmark.fold_source, "embedding": FLIP_TEXT, "threshold": GRID_TEXT,
            "notes": notes, "systems": figures, "verdict": verdict}


def evaluate_benchmarks(model: torch.nn.Module, model_args: dict[str, Any], paths: Sequence[str | Path],
                        specs: Sequence[EmbedderSpec], cache_dir: Optional[str] = None, batch_size: int = 32,
                        log: Log = logger.info) -> dict[str, dict[str, Any]]:
    """{benchmark name: its figures and verdict}. The embedders' names and every benchmark are checked
    before anything is embedded."""
    names = list(model_args["model_names"])
    check_embedder_names(names, specs)
    ordered = sorted(specs, key=lambda spec: names.index(spec.name))
    benchmarks = [open_benchmark(path) for path in paths]
    expected = dict(zip(names, model_args["input_dims"]))
    results = {}
    for benchmark in benchmarks:
        arrays = embed_benchmark(benchmark, ordered, expected, cache_dir, batch_size, log)
        key = benchmark.name if benchmark.name not in results else str(benchmark.path)
        results[key] = score_benchmark(benchmark, system_embeddings(model, names, arrays))
    return results
