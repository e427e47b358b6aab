"""``servectl predict``: send a real input to a deployed model and print what it answers.

A dispatcher: the model's own client does the work, named in its model.yaml (``client``) and
loaded like the runtimes' hooks (tools.plugins), with the contract
``predict_once(url, input, *, raw) -> str``. On `local` the endpoint comes from the running pod;
on a cluster pass ``--url`` (a port-forward or an ingress).
"""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    parser.add_argument("--input", help="what the model's client sends: an image file, a prompt, ...")
    parser.add_argument("--url", help="the model's base URL, instead of asking the environment")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")


def model_client(deploy):
    """The model's ``predict_once`` from the module its model.yaml names."""
    from tools.errors import UserError
    from tools.k8s.schema.specs import model_dir
    from tools.plugins import load_hook

    model_file = model_dir(deploy.model, deploy.inputs.root) / "model.yaml"
    if deploy.inputs.model.client is None:
        raise UserError(f"{deploy.model} names no client module", file=model_file, field="client")
    return load_hook(
        deploy.inputs.model.client,
        "predict_once",
        file=model_file,
        field="client",
        signature="predict_once(url, input, *, raw)",
    )


def predict(deploy, target, args: argparse.Namespace) -> int:
    """Sends ``args.input`` to the model ``deploy`` describes, at ``args.url`` or else the
    endpoint ``target`` knows (``target`` may be None when ``args.url`` is given)."""
    predict_once = model_client(deploy)  # a missing client fails before any network call
    url = (args.url or deploy.endpoint(target)).rstrip("/")
    print(predict_once(url, args.input, raw=args.json))
    return 0


def run(args: argparse.Namespace) -> int:
    deploy = _deploy_args.load_deploy(args)
    if args.url:  # no need to reach the environment (a cluster needs no kubeconfig for this)
        return predict(deploy, None, args)
    with _deploy_args.open_target(deploy, args) as target:
        return predict(deploy, target, args)
