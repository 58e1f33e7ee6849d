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
import json
import sys
from pathlib import Path

from faceauth.commands.cli import HelpFormatter, exits_cleanly
from faceauth.io.formatting import prog
from faceauth.workflows.config import resolve_config
from faceauth.io.errors import FaceauthError
from faceauth.io.outputs import check_output
from faceauth.tasks import get_task


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


def write_parquet(table, path: Path, metadata: dict) -> Path:
    import pyarrow.parquet as pq

    from faceauth.io.runlog import atomic_replace

    table = table.replace_schema_metadata({b"faceauth": json.dumps(metadata).encode()})
    with atomic_replace(path) as tmp:  # a failed write (a full disk) leaves the old file whole
        pq.write_table(table, tmp)
    return path


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    from faceauth.tasks.fusion.image_embeddings import embed_directory

    args = parse_args(argv)
    check_output(args.output, "--output", [args.config])
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "output") and v is not None}
    config = resolve_config(get_task("fusion"), args.config, flags)
    if config.data_dir is None:
        raise FaceauthError("name the image folder: python -m faceauth.embed DATA_DIR --embedder NAME=MODEL.onnx ...")
    specs = config.embedder_specs()
    result = embed_directory(config.data_dir, specs, config.cache_dir, config.embed_batch_size, config.skip_corrupt)
    metadata = {"data_dir": str(config.data_dir), "embedders": [vars(spec) for spec in specs], "skipped": result.skipped}
    output = write_parquet(result.table(), Path(args.output), metadata)
    print(f"wrote {output}: {len(result.files)} images of {len(set(f.identity for f in result.files))} identities, "
          f"columns identity, path, {', '.join(result.arrays)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
