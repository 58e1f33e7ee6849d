"""Temporal liveness: window statistics of per-frame features plus an LSTM residual score videos as
bona fide or attack; the task and its registration are in task.py."""
