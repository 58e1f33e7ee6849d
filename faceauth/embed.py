"""Embed a folder of face images with ONNX face-recognition models into a Parquet file, once:

    python -m faceauth.embed faces/ --embedder arcface=models/arcface.onnx \\
        --embedder facenet=models/facenet.onnx --embedder mobilefacenet=models/mobilefacenet.onnx \\
        --output embeddings.parquet

The folder is laid out as faces/person_id/image.jpg (JPEG or PNG, any size). The output has one
row per image (identity, path, one float32 list column per embedder): what
`python -m faceauth.train fusion --embeddings` and `faceauth.evaluate --test-data` read.
Embeddings are cached (default faces/.faceauth-cache/), so a second run, or training with
`--data_dir faces/`, recomputes only images and models that changed. `--config FILE` reads
data_dir, embedders, cache_dir, skip_corrupt and embed_batch_size from the file's fusion section.
"""

from __future__ import annotations

import argparse
import sys

from faceauth import make_callable_module
from faceauth.commands.cli import HelpFormatter, exits_cleanly
from faceauth.io.formatting import prog
from faceauth.workflows.embed import EmbedRequest, embed_folder


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog("embed"), description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("data_dir", nargs="?", help="face images as DATA_DIR/person_id/image.jpg")
    parser.add_argument("--embedder", dest="embedders", action="append", metavar="NAME=MODEL.onnx",
                        help="an ONNX face-recognition model, once per model; settings may follow: "
                             ",input_size=112,channel_order=bgr,mean=127.5,std=128")
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON config (its fusion section)")
    parser.add_argument("--output", default="embeddings.parquet", help="the Parquet file to write (default embeddings.parquet)")
    parser.add_argument("--cache-dir", "--cache_dir", dest="cache_dir", help="default DATA_DIR/.faceauth-cache")
    parser.add_argument("--skip-corrupt", "--skip_corrupt", dest="skip_corrupt", action="store_true", default=None,
                        help="leave out and list unreadable images and identities with one image, instead of stopping")
    parser.add_argument("--batch-size", "--batch_size", dest="embed_batch_size", type=int, help="images per onnxruntime call (default 32)")
    return parser.parse_args(argv)


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k not in ("config", "output") and v is not None}
    written = embed_folder(EmbedRequest(args.output, args.config, values))
    print(f"wrote {written['output']}: {written['images']} images of {written['identities']} identities, "
          f"columns {', '.join(written['columns'])}")
    return 0


make_callable_module(__name__)  # faceauth.embed(...) calls faceauth.api.embed

if __name__ == "__main__":
    sys.exit(main())
