"""Workflows: what each command does, a typed request in and a result out, without argparse (train, evaluate, export,
embed, datasets, protocols). They may import the tasks and everything below them; commands and faceauth.api call them."""
