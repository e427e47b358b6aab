"""A stale generated file: prod.yaml exists, but this file was not regenerated."""

ENVIRONMENTS = [
    "local",
    "staging",
]

ENVIRONMENT_IMAGES = {
    "local": {},
    "staging": {},
}

ENVIRONMENT_VERIFIER_IMAGES = {
    "local": [],
    "staging": [],
}
