"""Fixture tests: no target runs this file."""


def test_demo():
    assert 1 + 1 == 2
