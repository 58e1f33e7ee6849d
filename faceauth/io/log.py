"""faceauth logs through `logging.getLogger("faceauth")`; library code never prints.

The commands (and each trial's process) call `show_progress()` so that the terminal reads as it
always has: INFO lines as plain text on stdout, warnings on stderr. A notebook or pipeline that
imports faceauth configures logging its own way, e.g. `logging.basicConfig(level=logging.INFO)`.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("faceauth")


class _ConsoleHandler(logging.Handler):
    """INFO to stdout, WARNING and above to stderr, as bare messages. The stream is looked up at each
    record, so a redirected sys.stdout (pytest's capture, a notebook's cell) still sees it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # a closed stream must not break a run
            self.handleError(record)


def show_progress() -> None:
    """Once per process: faceauth's INFO messages on the terminal, as the commands print them."""
    if any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        return
    handler = _ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
