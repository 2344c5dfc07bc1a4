"""Tests of the built-in quoting strategies."""
