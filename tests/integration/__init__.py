"""Tests of the whole: searches end to end, resume, clusters, jobs, the README's commands, the wheel, the quality gates."""
