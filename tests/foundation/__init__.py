"""Tests of the foundation: plugin manager, config loading, logging, CLI, docs and the example plugin."""
