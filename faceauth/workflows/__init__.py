"""Workflows: what a command does, importable and without argparse (one training run today).
They may import the tasks and everything below them; commands (faceauth.train, ...) import them."""
