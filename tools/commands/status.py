"""``servectl status``: ready replicas, running image digest and endpoint; exit 1 when not ready."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)


def run(args: argparse.Namespace) -> int:
    from tools import deploy

    target = _deploy_args.load(args)
    ready, lines = deploy.status(target, kubeconfig=args.kubeconfig)
    if ready and target.is_local and target.env.features.enableModelSpecificMetrics:
        from tools.k8s.inputs import load_inputs
        from tools.observability.local_prometheus import summary_lines

        lines += summary_lines(load_inputs(target.model, target.env.name))
    print("\n".join(lines))
    return 0 if ready else 1
