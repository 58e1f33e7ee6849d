"""Write a synthetic dataset to disk, one subcommand per task that has a generator:

    python -m faceauth.datasets fusion OUT_DIR [--regime dominant] [--identities 300] [--test-identities 100] [--images 10]
    python -m faceauth.datasets liveness OUT_DIR [--difficulty 0.5] [--per-class 200] [--image-size 64] [--seed 0]
    python -m faceauth.datasets temporal OUT_DIR [--per-class 24] [--frames 32] [--size 64] [--difficulty 0.7] [--seed 0]

The data are procedurally drawn and say so (a README.txt in OUT_DIR): for running and testing the
pipeline without real data, never for claims about real-world performance. `faceauth.train <task>
--synthetic` and `faceauth.tune <task> --synthetic` draw the same data into a cache folder themselves.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from faceauth.cli import exits_cleanly
from faceauth.errors import FaceauthError


def _fusion_arguments(parser: argparse.ArgumentParser) -> None:
    from faceauth.tasks.fusion.synthetic import REGIMES

    parser.add_argument("out_dir", metavar="OUT_DIR", help="where train.parquet and test.parquet go")
    parser.add_argument("--regime", choices=tuple(REGIMES), default="default",
                        help="the kind of data: " + "; ".join(f"{n}: {r.description}" for n, r in REGIMES.items()))
    parser.add_argument("--identities", type=int, default=300, help="training identities (default 300)")
    parser.add_argument("--test-identities", "--test_identities", dest="test_identities", type=int, default=100,
                        help="test identities, none of them in train.parquet (default 100)")
    parser.add_argument("--images", type=int, default=10, help="images per identity (default 10)")
    parser.add_argument("--seed", type=int, default=0)


def _fusion(args: argparse.Namespace) -> None:
    from faceauth.tasks.fusion.synthetic import regime, write_dataset

    if args.identities < 6 or args.test_identities < 2 or args.images < 2:
        raise FaceauthError("--identities must be at least 6, --test-identities at least 2 and --images at least 2")
    for path in write_dataset(args.out_dir, regime(args.regime), args.identities, args.test_identities, args.images, args.seed):
        print(f"wrote {path}")


def _liveness_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", metavar="OUT_DIR", help="a new (or empty) folder for {train,val,test}/{live,spoof}/")
    parser.add_argument("--difficulty", type=float, default=0.5, help="0: obvious attack cues .. 1: subtle (default 0.5)")
    parser.add_argument("--per-class", "--per_class", dest="per_class", type=int, default=200,
                        help="images per class (live, spoof) in train; val and test get half as many (default 200)")
    parser.add_argument("--image-size", "--image_size", dest="image_size", type=int, default=64,
                        help="side of the square images in pixels (default 64)")
    parser.add_argument("--seed", type=int, default=0)


def _liveness(args: argparse.Namespace) -> None:
    from faceauth.tasks.liveness.synthetic import SyntheticSpec, write_dataset

    if not 0 <= args.difficulty <= 1:
        raise FaceauthError(f"--difficulty must lie in [0, 1], got {args.difficulty}")
    if args.per_class < 12 or args.image_size < 16:
        raise FaceauthError("--per-class must be at least 12 and --image-size at least 16")
    write_dataset(args.out_dir, SyntheticSpec(args.difficulty, args.per_class, args.image_size, args.seed))


def _temporal_arguments(parser: argparse.ArgumentParser) -> None:
    from faceauth.tasks.temporal.synthetic import add_arguments

    add_arguments(parser)


def _temporal(args: argparse.Namespace) -> None:
    from faceauth.tasks.temporal.synthetic import run

    run(args)


# name -> (help, add its arguments, write the dataset)
GENERATORS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], None]]] = {
    "fusion": ("face-recognition embeddings of several models, train.parquet + test.parquet", _fusion_arguments, _fusion),
    "liveness": ("face images, live and spoof (print, replay, mask)", _liveness_arguments, _liveness),
    "temporal": ("face video clips, live and spoof (print, replay)", _temporal_arguments, _temporal),
}


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceauth.datasets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for name, (help_text, add_arguments, _) in GENERATORS.items():
        add_arguments(commands.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    GENERATORS[args.task][2](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
