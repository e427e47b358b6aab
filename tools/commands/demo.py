"""``servectl demo``: the main job on `local`, end to end.

Builds the model's image, pushes it to the local registry, resolves the manifests with its
digest, runs them with podman, waits until ready, sends a real input and prints the answer and
the image digest that answered. Run twice, the second run rebuilds nothing and changes nothing.
"""

from __future__ import annotations

import argparse
import sys

from tools.commands import predict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default="yolo", help="yolo (default) or gpt2")
    parser.add_argument("--env", default="local", help=argparse.SUPPRESS)
    parser.add_argument("--input", help="an image (yolo) or a prompt (gpt2)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for ready (300)")
    parser.add_argument(
        "--prometheus-port", type=int, default=9090, help="loopback port of the local Prometheus (9090)"
    )


def run(args: argparse.Namespace) -> int:
    from tools.deploy import Deploy, open_target

    deploy = Deploy.load(args.model, args.env)
    if deploy.env.features.enableModelSpecificMetrics:
        from tools.errors import UserError
        from tools.observability import local_prometheus

        # Beside the registry: scrapes what the model's ServiceMonitor names, so `status` shows its
        # request rate, error ratio and p99. Only an aid: the demo goes on without it.
        try:
            state = local_prometheus.start(args.env, args.prometheus_port)
            print(f"==> prometheus at {state.url}")
        except UserError as error:
            print(f"warning: no local Prometheus: {error}", file=sys.stderr)
    with open_target(deploy.env) as target:
        print(f"==> apply {args.model} to {args.env}")
        for line in deploy.apply(target, timeout=args.timeout).report:
            print(line)
        print(f"==> predict with {args.model} on {args.env}")
        # The same arguments a user would give `servectl predict`, parsed by its own parser.
        parser = argparse.ArgumentParser(prog="servectl predict")
        predict.add_arguments(parser)
        request = [args.model, "--env", args.env, *(["--input", args.input] if args.input else [])]
        return predict.predict(deploy, target, parser.parse_args(request))
