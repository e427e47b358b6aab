"""Letterboxing and NMS in numpy: the geometry both backends rely on."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from models.yolo.boxes import PAD_VALUE, Letterboxed, letterbox, nms, postprocess


def test_letterbox_portrait():
    boxed = letterbox(np.zeros((1080, 810, 3), np.uint8), 640)
    assert boxed.tensor.shape == (1, 3, 640, 640) and boxed.tensor.dtype == np.float32
    assert boxed.gain == pytest.approx(640 / 1080)
    assert boxed.pad == (80, 0) and boxed.original_size == (810, 1080)
    # Padding columns carry the letterbox gray, the image area its own (black) pixels.
    assert boxed.tensor[0, :, :, :80].max() == pytest.approx(PAD_VALUE / 255)
    assert boxed.tensor[0, :, :, 80:560].max() == 0


def test_letterbox_one_pixel_fills_the_input():
    boxed = letterbox(np.full((1, 1, 3), 200, np.uint8), 640)
    assert boxed.gain == 640 and boxed.pad == (0, 0)
    assert np.allclose(boxed.tensor, 200 / 255)


def raw_output(boxes_cxcywh, class_scores):
    """A fake head output [1, 4 + classes, anchors] from per-anchor boxes and class scores."""
    return np.concatenate(
        [np.asarray(boxes_cxcywh, np.float32), np.asarray(class_scores, np.float32)], axis=1
    ).T[None]


def boxed_for(width, height, size=640):
    gain = min(size / width, size / height)
    left, top = round((size - round(width * gain)) / 2 - 0.1), round((size - round(height * gain)) / 2 - 0.1)
    return Letterboxed(np.zeros((1, 3, size, size), np.float32), gain, (left, top), (width, height))


def test_boxes_map_back_to_original_pixels():
    boxed = boxed_for(810, 1080)  # gain 640/1080, 80 px left padding
    # Original box (100, 200) - (300, 400) in network pixels: scale, then shift by the padding.
    x1, y1, x2, y2 = (np.array([100, 200, 300, 400]) * boxed.gain) + np.array([80, 0, 80, 0])
    raw = raw_output([[(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]], [[0.9, 0.1]])
    found = postprocess(raw, boxed)
    assert found.boxes[0].tolist() == pytest.approx([100, 200, 300, 400], abs=1e-3)
    assert found.class_ids.tolist() == [0] and found.scores.tolist() == pytest.approx([0.9])


def test_low_confidence_is_dropped_and_boxes_are_clipped():
    boxed = boxed_for(640, 640)
    raw = raw_output([[10, 10, 40, 40], [300, 300, 50, 50]], [[0.2, 0.1], [0.1, 0.8]])
    found = postprocess(raw, boxed)
    assert found.class_ids.tolist() == [1]
    clipped = postprocess(raw_output([[5, 5, 40, 40]], [[0.9, 0]]), boxed)
    assert clipped.boxes.tolist() == [[0, 0, 25, 25]]


def test_nms_is_class_aware():
    same_place = [[100, 100, 50, 50], [101, 101, 50, 50]]
    one_class = postprocess(raw_output(same_place, [[0.9, 0], [0.8, 0]]), boxed_for(640, 640))
    two_classes = postprocess(raw_output(same_place, [[0.9, 0], [0, 0.8]]), boxed_for(640, 640))
    assert len(one_class.scores) == 1 and one_class.scores[0] == pytest.approx(0.9)
    assert sorted(two_classes.class_ids.tolist()) == [0, 1]


def test_nms_keeps_best_first_and_respects_the_limit():
    boxes = np.array([[0, 0, 10, 10], [100, 100, 110, 110], [1, 1, 10, 10]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.6]), 0.7, 10).tolist() == [1, 2]
    assert nms(boxes, np.array([0.5, 0.9, 0.6]), 0.7, 1).tolist() == [1]


def test_nothing_found():
    found = postprocess(raw_output([[1, 1, 1, 1]], [[0.01, 0.02]]), boxed_for(64, 48))
    assert found.boxes.shape == (0, 4) and found.scores.shape == (0,) and found.class_ids.dtype == np.int64


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
