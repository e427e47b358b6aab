"""Fixture artifacts module."""


def build(out_dir):
    (out_dir / "weights.txt").write_text("demo")
