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

from faceauth import make_callable_module
from faceauth.commands.cli import HelpFormatter, exits_cleanly
from faceauth.io.formatting import prog
from faceauth.workflows.datasets import DatasetRequest, generating_tasks, write_dataset


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog("datasets"), description=__doc__, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    for task in generating_tasks():  # each task's generator_options, as flags
        sub = commands.add_parser(task.name, help=task.generator_help, description=task.generator_help,
                                  formatter_class=HelpFormatter)
        sub.add_argument("out_dir", metavar="OUT_DIR", help=task.generator_out_dir)
        for name, option in task.generator_options.items():
            flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
            sub.add_argument(*flags, dest=name, type=option.kind, default=option.default, choices=option.choices,
                             help=option.help)
    return parser.parse_args(argv)


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("task", "out_dir")}
    result = write_dataset(DatasetRequest(args.task, args.out_dir, options))
    for path in result.written:
        print(f"wrote {path}")
    return 0


make_callable_module(__name__)  # faceauth.datasets(...) calls faceauth.api.datasets

if __name__ == "__main__":
    sys.exit(main())
