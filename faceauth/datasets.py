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
import os
import sys

from faceauth.commands.cli import HelpFormatter, exits_cleanly
from faceauth.io.formatting import prog
from faceauth.io.errors import FaceauthError
from faceauth.tasks import get_task, list_tasks


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("datasets"), description=__doc__, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    # Every registered task with a generator (Task.generator_help, add_generator_arguments, write_synthetic).
    for task in (get_task(name) for name in list_tasks()):
        if task.generator_help is not None:
            task.add_generator_arguments(commands.add_parser(task.name, help=task.generator_help, description=task.generator_help,
                                                             formatter_class=HelpFormatter))
    args = parser.parse_args(argv)
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        raise FaceauthError(f"OUT_DIR {args.out_dir} is a file, not a folder; pass a new folder for the dataset")
    get_task(args.task).write_synthetic(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
