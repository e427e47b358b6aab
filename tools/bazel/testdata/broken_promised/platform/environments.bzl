"""A stale generated list: prod.yaml exists, but this file was not regenerated."""

ENVIRONMENTS = [
    "local",
    "staging",
]
