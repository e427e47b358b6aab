"""Test-only machinery shared across packages: real components started for tests (never mocks)."""
