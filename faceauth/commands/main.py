"""The `faceauth` command: one name for every entry point, the same as `python -m faceauth`.

    faceauth tune fusion --trials 50        # = python -m faceauth.tune fusion --trials 50
    faceauth train fusion --synthetic       # = python -m faceauth.train fusion --synthetic
    faceauth train fusion --help            # the fusion task's own flags, with their defaults
"""

from __future__ import annotations

import importlib
import sys

from faceauth import __version__
from faceauth.io.formatting import set_command_prefix

# command -> what it does; each is the module faceauth.<command> with a main(argv) -> exit code.
COMMANDS = {
    "tune": "search a task's hyperparameters (Ray Tune + Optuna + ASHA), then test and export the best trial",
    "train": "train one model, no search (also re-runs a search's best/config.yaml)",
    "evaluate": "evaluate a trained model on test data beside its baselines",
    "export": "export a trained model to ONNX, checked against onnxruntime",
    "embed": "embed a folder of face images with ONNX face-recognition models into a Parquet file",
    "datasets": "write a synthetic dataset of a task to disk",
}


def usage(name: str) -> str:
    width = max(map(len, COMMANDS)) + 2
    lines = [f"usage: {name} COMMAND [ARGS...]", "", __doc__.splitlines()[0], "", "commands:"]
    lines += [f"  {command:<{width}}{text}" for command, text in COMMANDS.items()]
    lines += ["", f"{name} COMMAND --help shows a command's flags and their defaults; the train and tune",
              f"commands take a task first, and `{name} train TASK --help` lists that task's own flags too.",
              f"{name} --version prints the version."]
    return "\n".join(lines)


def main(argv: list[str] | None = None, name: str = "faceauth") -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(name), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"faceauth {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command '{command}'; commands: {', '.join(COMMANDS)} ({name} --help)", file=sys.stderr)
        return 2
    set_command_prefix(f"{name} ")
    return importlib.import_module(f"faceauth.{command}").main(rest)


def console() -> None:
    """The `faceauth` console script (pyproject [project.scripts])."""
    sys.exit(main())
