"""Evaluate a trained model on test data, beside its baselines on the same pairs or samples:

    python -m faceauth.evaluate --model-path weights/fusion_mlp.pth --test-data test_embeddings.parquet

Without --test-data, the test split of the model's synthetic training data, regenerated from its
seed. A checkpoint may come from anywhere, so paths read from it are not followed: a model trained on
files needs --test-data, and caches go to the default folder, not to one the checkpoint names.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from faceauth.checkpoint import load_checkpoint
from faceauth.cli import exits_cleanly
from faceauth.errors import FaceauthError
from faceauth.outputs import check_output
from faceauth.formatting import evaluation_table
from faceauth.runlog import atomic_write_text, to_jsonable
from faceauth.verdict import build_verdict
from faceauth.tasks import get_task


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
    parser = argparse.ArgumentParser(prog="python -m faceauth.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", "--model_path", dest="model_path", required=True)
    parser.add_argument("--test-data", "--test_data", dest="test_data", help="test data (fusion: a Parquet file; liveness: a folder with live/ and spoof/, or a data_root)")
    parser.add_argument("--output-json", "--output_json", dest="output_json",
                        help="where the metrics go (default: beside the model, <name>.eval.json)")
    args = parser.parse_args(argv)
    output = Path(args.output_json or Path(args.model_path).with_suffix(".eval.json"))
    check_output(output, "--output-json", [args.model_path, args.test_data])

    checkpoint = load_checkpoint(args.model_path)
    task = get_task(checkpoint["task"])
    if args.test_data is None:
        checkpoint = without_stored_paths(task, checkpoint, args.model_path)
    evaluation = task.evaluate(checkpoint, args.test_data)
    verdict = build_verdict(evaluation, task.objective, task.verdict_advice) if evaluation.groups is not None else None
    if verdict:
        print(verdict["summary"])
    print(f"{task.name} model {args.model_path} on {evaluation.details.get('data', args.test_data)}")
    print(evaluation_table(evaluation))
    atomic_write_text(output, json.dumps(to_jsonable({"task": task.name, "model_path": args.model_path, "verdict": verdict,
                                                      "metrics": evaluation.metrics, "details": evaluation.details}), indent=2))
    print(f"metrics written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
