"""Export a trained model to ONNX (dynamic batch axis) and check it against onnxruntime:

    python -m faceauth.export --model-path weights/fusion_mlp.pth --output-path weights/fusion_mlp.onnx

Fails (exit 1) if any onnxruntime output differs from torch by more than 1e-4 (max abs).
"""

from __future__ import annotations

import argparse
import sys

from faceauth import make_callable_module
from faceauth.commands.cli import HelpFormatter, exits_cleanly
from faceauth.io.formatting import prog
from faceauth.workflows.export import ExportRequest, export_model


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("export"), description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--model-path", "--model_path", dest="model_path", required=True)
    parser.add_argument("--output-path", "--output_path", dest="output_path", required=True)
    args = parser.parse_args(argv)
    result = export_model(ExportRequest(args.model_path, args.output_path))
    print(f"wrote {result['path']}; onnxruntime parity on inputs {result['checked_input_shapes']}: "
          f"max abs diff {result['max_abs_diff']:.2e} (tolerance {result['tolerance']})")
    return 0


make_callable_module(__name__)  # faceauth.export(...) calls faceauth.api.export

if __name__ == "__main__":
    sys.exit(main())
