"""Fusion: merges the embeddings of several face-recognition models into one; the task and its registration are in task.py."""
