"""Render or check TF Serving config files from the command line.

    python -m runtimes.tfserving render MODEL_DIR NAME [--out DIR]   # the ConfigMap's two files
    python -m runtimes.tfserving check [--models FILE] [--monitoring FILE]

``check`` is for a hand-edited or already-deployed config: it applies the same proto parse and
checks as rendering does. Exit 0 when fine, 2 with one ``error: FILE: FIELD: message`` line if not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtimes.tfserving.config import check_models_config, check_monitoring_config
from runtimes.tfserving.deploy_config import config_files
from tools.errors import UserError


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read: {error.strerror}", file=path) from None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtimes.tfserving", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    render = verbs.add_parser("render", help="print (or write) models.config and monitoring.config")
    render.add_argument("model_dir", type=Path, help="the model's directory (its tfserving.yaml is read)")
    render.add_argument("name", help="the model name, as in /v1/models/<name>")
    render.add_argument("--gpu", action="store_true")
    render.add_argument("--out", type=Path, help="write the files into this directory instead")
    check = verbs.add_parser("check", help="parse and check existing config files")
    check.add_argument("--models", type=Path, help="a models.config file")
    check.add_argument("--monitoring", type=Path, help="a monitoring.config file")
    check.add_argument(
        "--labels-before-load",
        action="store_true",
        help="the server runs with --allow_version_labels_for_unavailable_models",
    )
    args = parser.parse_args(argv)
    try:
        if args.verb == "render":
            files = config_files(args.model_dir, args.name, args.gpu)
            for name, text in files.items():
                if args.out:
                    args.out.mkdir(parents=True, exist_ok=True)
                    (args.out / name).write_text(text, encoding="utf-8")
                else:
                    print(f"--- {name}\n{text}", end="")
        else:
            if not (args.models or args.monitoring):
                parser.error("give --models and/or --monitoring")
            if args.models:
                check_models_config(
                    _read(args.models), file=args.models, labels_before_load=args.labels_before_load
                )
            if args.monitoring:
                check_monitoring_config(_read(args.monitoring), file=args.monitoring)
            print("ok")
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
