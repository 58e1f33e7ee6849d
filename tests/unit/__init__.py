"""Tests of one part each, in folders that mirror faceauth/ (io, training, evaluation, tasks, tuning, commands)."""
