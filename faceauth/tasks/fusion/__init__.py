"""Fusion: merges the embeddings of several face-recognition models into one (task.py)."""

from faceauth.tasks.fusion.task import FusionTask

__all__ = ["FusionTask"]
