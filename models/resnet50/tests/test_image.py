"""The resnet50 image is Bazel-only (its base is tensorflow/serving, pulled by digest): building
it here must say so, not half-build something."""

from __future__ import annotations

import pytest

from tools.errors import UserError
from tools.labels import Label
from tools.oci.builder import build_image
from tools.testing.images import checkout_build_dir

pytestmark = pytest.mark.container  # also run in the pristine root (./dev rehearse)


@pytest.fixture(scope="module")
def repo_build_dir():
    with checkout_build_dir():
        yield


def test_resnet50_is_bazel_only_and_says_so(repo_build_dir):
    from tools.bazel.build_file import read_targets

    if "image" not in read_targets("models/resnet50"):
        pytest.skip("models/resnet50 has no image target yet")
    with pytest.raises(UserError, match="only Bazel can build //models/resnet50:image"):
        build_image(Label("models/resnet50", "image"))
