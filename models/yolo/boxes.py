"""YOLO pre- and post-processing in numpy, shared by both backends so they see the same pixels.

Mirrors ultralytics' own defaults (``LetterBox(auto=False)``, ``non_max_suppression`` with
conf 0.25, IoU 0.7, class-aware, at most 300 boxes), so a .pt served here and the same .pt run
through ``YOLO.predict`` find the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

PAD_VALUE = 114  # ultralytics' letterbox gray
CONF_THRESHOLD = 0.25
IOU_THRESHOLD = 0.7
MAX_DETECTIONS = 300
MAX_CANDIDATES = 30_000  # boxes kept for NMS, best first (ultralytics' max_nms)
# Class-aware NMS in one pass: shift each class's boxes this far apart so they never overlap.
_CLASS_OFFSET = 7680


@dataclass(frozen=True)
class Letterboxed:
    """The network input and what is needed to map its boxes back onto the original image."""

    tensor: np.ndarray  # float32 [1, 3, height, width], RGB in 0..1
    gain: float  # original pixels * gain = network pixels
    pad: tuple[int, int]  # (left, top) padding in network pixels
    original_size: tuple[int, int]  # (width, height)


def letterbox(rgb: np.ndarray, size: int, stride: int | None = None) -> Letterboxed:
    """Resizes keeping the aspect ratio and pads (ultralytics' LetterBox).

    Without ``stride``: to ``size`` x ``size`` (``auto=False``, for fixed-shape exports). With it:
    only up to the next multiple of ``stride`` on the short side (``auto=True``, what ultralytics'
    own predict does), e.g. 480 x 640 for a 3:4 portrait photo: fewer pixels for the network.
    """
    height, width = rgb.shape[:2]
    gain = min(size / height, size / width)
    new_w, new_h = round(width * gain), round(height * gain)
    image = Image.fromarray(rgb)
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    canvas_w, canvas_h = size, size
    if stride:
        canvas_w, canvas_h = new_w + (size - new_w) % stride, new_h + (size - new_h) % stride
    # Split the padding like ultralytics does (the -0.1/+0.1 rounds an odd pixel to bottom/right).
    left, top = round((canvas_w - new_w) / 2 - 0.1), round((canvas_h - new_h) / 2 - 0.1)
    canvas = np.full((canvas_h, canvas_w, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = np.asarray(image)
    # One pass: HWC uint8 -> CHW float32 in 0..1 (a multiply is cheaper than a divide).
    tensor = np.empty((1, 3, canvas_h, canvas_w), dtype=np.float32)
    np.multiply(canvas.transpose(2, 0, 1), np.float32(1 / 255), out=tensor[0], casting="unsafe")
    return Letterboxed(tensor=tensor, gain=gain, pad=(left, top), original_size=(width, height))


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / (area + areas - inter + 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, limit: int) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < limit:
        best, order = order[0], order[1:]
        keep.append(int(best))
        order = order[_iou(boxes[best], boxes[order]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # float32 [n, 4]: x1, y1, x2, y2 in original-image pixels
    scores: np.ndarray  # float32 [n]
    class_ids: np.ndarray  # int64 [n]


def postprocess(
    raw: np.ndarray,
    letterboxed: Letterboxed,
    conf_threshold: float = CONF_THRESHOLD,
    iou_threshold: float = IOU_THRESHOLD,
) -> Detections:
    """Raw head output [1, 4 + classes, anchors] (cx, cy, w, h, class scores) to final boxes."""
    predictions = np.asarray(raw, dtype=np.float32)[0].T  # [anchors, 4 + classes]
    class_scores = predictions[:, 4:]
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(class_ids)), class_ids]
    keep = scores > conf_threshold
    cxcywh, scores, class_ids = predictions[keep, :4], scores[keep], class_ids[keep]
    if len(scores) > MAX_CANDIDATES:
        top = np.argsort(-scores)[:MAX_CANDIDATES]
        cxcywh, scores, class_ids = cxcywh[top], scores[top], class_ids[top]
    boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
    kept = nms(boxes + class_ids[:, None] * _CLASS_OFFSET, scores, iou_threshold, MAX_DETECTIONS)
    boxes, scores, class_ids = boxes[kept], scores[kept], class_ids[kept]
    # Back to the original image: undo the padding, then the scaling, and clip to its edges.
    left, top = letterboxed.pad
    boxes = (boxes - np.array([left, top, left, top], dtype=np.float32)) / letterboxed.gain
    width, height = letterboxed.original_size
    boxes = np.clip(boxes, 0, np.array([width, height, width, height], dtype=np.float32))
    return Detections(
        boxes=boxes.astype(np.float32).reshape(-1, 4),
        scores=scores.astype(np.float32),
        class_ids=class_ids.astype(np.int64),
    )
