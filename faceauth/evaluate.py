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
import sys

from faceauth import make_callable_module
from faceauth.commands.cli import HelpFormatter, exits_cleanly
from faceauth.io.formatting import prog
from faceauth.tasks.protocols import OBJECTIVES
from faceauth.workflows.evaluate import EvaluateRequest, evaluate


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
    evaluate(EvaluateRequest(args.model_path, args.test_data, args.output_json, args.protocol, args.protocol_objective,
                             args.data_root, tuple(args.benchmark or ()), tuple(args.embedder or ()), args.cache_dir))
    return 0


make_callable_module(__name__)  # faceauth.evaluate(...) calls faceauth.api.evaluate

if __name__ == "__main__":
    sys.exit(main())

