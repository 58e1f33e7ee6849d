"""Liveness (presentation-attack detection): a ResNet scores face images as bona fide or attack (task.py)."""

from faceauth.tasks.liveness.task import LivenessTask

__all__ = ["LivenessTask"]
