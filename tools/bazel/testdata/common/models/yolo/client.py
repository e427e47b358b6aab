"""Fixture client plug-in (//tools:test_cli declares it as data)."""
