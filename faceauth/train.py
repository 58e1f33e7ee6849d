"""Train one model, no search: `python -m faceauth.train fusion --synthetic --epochs 30`.

Also re-runs a search's best trial: `python -m faceauth.train --config runs/NAME/best/config.yaml`.
"""

from __future__ import annotations

import argparse
import sys

from faceauth.cli import add_common_train_flags, exits_cleanly, resolve_config, task_name_from
from faceauth.config import to_dict
from faceauth.pipeline import format_metrics, train_once
from faceauth.tasks import get_task, list_tasks


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict]:
    # Two passes: the task decides which flags exist.
    argv = sys.argv[1:] if argv is None else argv
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    named = argv[0] if argv and not argv[0].startswith("-") else None  # the task comes first
    task = get_task(task_name_from(named, known.config))

    parser = argparse.ArgumentParser(prog="python -m faceauth.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", nargs="?", choices=list_tasks(), help="what to train")
    add_common_train_flags(parser)
    task.add_cli_flags(parser)
    parser.add_argument("--smoke-test", action="store_true", help="a few steps on tiny data, to check the set-up")
    args = parser.parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k not in ("task", "config", "smoke_test")}
    return argparse.Namespace(task=task, config=args.config, smoke_test=args.smoke_test), flags


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    args, flags = parse_args(argv)
    config = resolve_config(args.task, args.config, flags, args.smoke_test)
    print(f"training {args.task.name}: {format_metrics(to_dict(config), ('epochs', 'batch_size', 'lr', 'seed'))}", flush=True)
    result = train_once(args.task, config)
    best = result["checkpoint"]
    print(f"best epoch {best['epoch']}: val {format_metrics(best['metrics'])}")
    print(f"model: {result['output_path']}   log: {result['log_path']}   ({result['wall_time_s']:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
