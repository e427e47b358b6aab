"""``servectl rbac --env <env>``: the deploying identity's RBAC (tools/k8s/render/deployer.py), for a
cluster admin to apply once; the identity then deploys without being in system:masters."""

from __future__ import annotations

import argparse
import sys

from tools.commands import _output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="an environment under platform/environments/")
    _output.add_format(parser, text="yaml")


def run(args: argparse.Namespace) -> int:
    from tools.k8s.render import to_yaml
    from tools.k8s.render.deployer import deployer_objects
    from tools.k8s.render.inputs import load_inputs
    from tools.k8s.schema.catalog import Catalog

    catalog = Catalog()
    environment = catalog.environment(args.env)
    # Only platform.yaml and the namespace shape these: any model of the environment will do.
    inputs = load_inputs(sorted(environment.models)[0], args.env, catalog=catalog)
    objects = deployer_objects(inputs)
    if _output.wants_json(args):
        _output.print_json(_output.object_list(objects))
    else:
        sys.stdout.write(to_yaml(objects))
    return 0
