"""Fixture test: run by pytest, which also reads the root conftest.py and pyproject.toml."""


def test_demo():
    assert 1 + 1 == 2
