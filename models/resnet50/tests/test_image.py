"""The resnet50 image is Bazel-only (its base is tensorflow/serving, pulled by digest): building
it here must say so, not half-build something."""

from __future__ import annotations

import pytest

from tools.errors import UserError
from tools.labels import Label
from tools.testing.images import checkout_build_dir

pytestmark = pytest.mark.container  # also run in the pristine root (./dev rehearse)


@pytest.fixture(scope="module")
def repo_build_dir():
    with checkout_build_dir():
        yield


def test_resnet50_is_bazel_only_and_says_so(repo_build_dir):
    # Imported here: ./dev test also collects this package in .venvs/tf (its tensorflow tests),
    # which has no starlark; this test runs in .venvs/dev only.
    from tools.bazel.build_file import read_targets
    from tools.oci.builder import build_image

    assert "image" in read_targets("models/resnet50")
    with pytest.raises(UserError, match="only Bazel can build //models/resnet50:image"):
        build_image(Label("models/resnet50", "image"))
