"""Evaluate a trained model on test data, beside its baselines on the same pairs or samples:

    python -m faceauth.evaluate --model-path weights/fusion_mlp.pth --test-data test_embeddings.parquet

Without --test-data, the test split of the data the model was trained on (synthetic runs included).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faceauth.checkpoint import load_checkpoint
from faceauth.cli import exits_cleanly
from faceauth.outputs import check_output
from faceauth.errors import FaceauthError
from faceauth.evaluation import Evaluation
from faceauth.formatting import evaluation_table
from faceauth.protocol_run import evaluate_protocol
from faceauth.protocols import OBJECTIVES
from faceauth.runlog import atomic_write_text, to_jsonable
from faceauth.tasks import get_task
from faceauth.tasks.pad import PresentationAttackTask
from faceauth.verdict import build_verdict


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceauth.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", "--model_path", dest="model_path", required=True)
    parser.add_argument("--test-data", "--test_data", dest="test_data", help="test data (fusion: a Parquet file; liveness: a folder with live/ and spoof/, or a data_root)")
    parser.add_argument("--output-json", "--output_json", dest="output_json",
                        help="where the metrics go (default: beside the model, <name>.eval.json)")
    parser.add_argument("--protocol", metavar="NAME|FILE",
                        help="PAD models: score the model on each fold's test side of this protocol (faceauth.protocols)")
    parser.add_argument("--protocol-objective", "--protocol_objective", dest="protocol_objective", default="worst",
                        choices=OBJECTIVES, help="how the folds' figures are aggregated (default worst)")
    parser.add_argument("--data-root", "--data_root", dest="data_root", metavar="DIR",
                        help="with --protocol: the data the folds are cut from (default: the model's training data)")
    args = parser.parse_args(argv)
    output = Path(args.output_json or Path(args.model_path).with_suffix(".eval.json"))
    check_output(output, "--output-json", [args.model_path, args.test_data])

    checkpoint = load_checkpoint(args.model_path)
    task = get_task(checkpoint["task"])
    if args.protocol:
        return evaluate_on_protocol(task, checkpoint, args, output)
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


def evaluate_on_protocol(task, checkpoint, args, output: Path) -> int:
    """The model and its baselines on every fold's test side, at the model's validation threshold."""
    if not isinstance(task, PresentationAttackTask):
        raise FaceauthError(f"--protocol is for the PAD tasks; {task.name} has no protocols")
    if args.test_data:
        raise FaceauthError("--protocol decides the test data (each fold's test side); drop --test-data, or use --data-root")
    results = evaluate_protocol(task, checkpoint, args.protocol, args.data_root, args.protocol_objective)
    print(f"{task.name} model {args.model_path} on the test side of each fold of protocol {args.protocol}:")
    for name, metrics in results["folds"].items():
        print(f"\n{name}:\n{evaluation_table(Evaluation(metrics, {}))}")
    print(f"\naggregate ({args.protocol_objective}):\n{evaluation_table(Evaluation(results['aggregate'], {}))}")
    atomic_write_text(output, json.dumps(to_jsonable({"task": task.name, "model_path": args.model_path, "protocol": args.protocol,
                                                      "protocol_objective": args.protocol_objective, **results}), indent=2))
    print(f"metrics written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
