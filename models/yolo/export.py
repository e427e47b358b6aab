"""Exports a YOLO ``.pt`` to ONNX with ultralytics, fully offline; run by ``artifacts.py``.

A separate process (``python -m models.yolo.export PT``) because ultralytics reads its settings
from the environment when first imported: this way they are exactly the ones set here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

IMGSZ = 640
# Opset 17: what onnxruntime has supported since 1.13, so the CPU image's runtime need not be new.
OPSET = 17
# Metadata keys ultralytics fills from the clock: the export must be a function of its inputs only,
# or every clean build makes a new artifacts layer, a new image digest and a needless rollout.
TIME_DEPENDENT_METADATA = ("date",)
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def offline_environment(config_dir: Path) -> dict[str, str]:
    """ultralytics settings that keep it off the network: no hub, no pip, fonts from the disk."""
    # ultralytics downloads Arial.ttf on first use (plotting, export metadata); a copy of DejaVuSans
    # under that name (fonts-dejavu-core) satisfies it without the network.
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        shutil.copyfile(FONT, config_dir / name)
    return {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_CONFIG_DIR": str(config_dir)}


def export_onnx(pt_path: Path) -> dict:
    """Writes ``<pt_path stem>.onnx`` beside the .pt; returns what the export used."""
    import onnx
    import torch
    import ultralytics
    from ultralytics import YOLO

    model = YOLO(str(pt_path), task="detect")
    # nms=False: NMS stays outside the graph, in handler code the backends share. dynamic=True: any
    # input size, so the handler letterboxes to ultralytics' own rectangle (480x640 for a portrait
    # photo) rather than a 640 square: fewer pixels, and the same boxes as ultralytics' predict.
    onnx_path = Path(
        model.export(format="onnx", imgsz=IMGSZ, opset=OPSET, simplify=True, nms=False, dynamic=True)
    )
    drop_time_dependent_metadata(onnx_path)
    drop_inferred_shapes(onnx_path)
    return {
        "onnx": onnx_path.name,
        "names": {int(k): v for k, v in model.names.items()},
        "imgsz": IMGSZ,
        "opset": onnx.load(str(onnx_path), load_external_data=False).opset_import[0].version,
        "exported_with": {
            "ultralytics": ultralytics.__version__,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
        },
    }


def drop_time_dependent_metadata(onnx_path: Path) -> None:
    """Rewrites the export without the metadata keys that record when it ran."""
    import onnx

    model = onnx.load(str(onnx_path))
    kept = [p for p in model.metadata_props if p.key not in TIME_DEPENDENT_METADATA]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, str(onnx_path))


def drop_inferred_shapes(onnx_path: Path) -> None:
    """Rewrites the export without ``graph.value_info``, the intermediate tensors' inferred shapes.

    With ``dynamic=True`` those shapes are symbolic expressions (``floor(2.0*...height...)``) whose
    spelling changed with PYTHONHASHSEED (tools.oci.reproducible: same nodes and weights, different
    value_info, so a different model.onnx and image digest). They are annotations only: inputs,
    outputs, nodes and initializers stay, and onnxruntime and OpenVINO infer shapes themselves.
    """
    import onnx

    model = onnx.load(str(onnx_path))
    del model.graph.value_info[:]
    onnx.save(model, str(onnx_path))


def main(argv: list[str]) -> int:
    pt_path = Path(argv[0])
    with tempfile.TemporaryDirectory(prefix="yolo-config-") as config_dir:
        os.environ.update(offline_environment(Path(config_dir)))
        result = export_onnx(pt_path)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
