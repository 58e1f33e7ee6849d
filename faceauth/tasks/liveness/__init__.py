"""Liveness (presentation-attack detection): a ResNet scores face images as bona fide or attack; the task and its registration are in task.py."""
