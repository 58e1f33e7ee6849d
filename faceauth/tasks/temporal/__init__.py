"""Temporal liveness: window statistics of per-frame features plus an LSTM residual score videos as
bona fide or attack (task.py)."""

from faceauth.tasks.temporal.task import TemporalTask

__all__ = ["TemporalTask"]
