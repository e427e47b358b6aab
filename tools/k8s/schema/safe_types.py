"""String types for the platform's data files, each with the one shape Kubernetes accepts.

Manifests are built as dicts and dumped with ``yaml.safe_dump``, so no value can break the YAML
structure; these types still refuse anything that is not a plain name, label, quantity or path,
because the same values reach podman, kubeconfig contexts and registry URLs, and a newline or a
``{`` in an environment file is always a mistake worth naming. Each message says what was expected.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from lightkube.utils.quantity import parse_quantity
from pydantic import AfterValidator, BeforeValidator, Field

# Characters that would start YAML structure or split a value if the text were ever templated.
_UNSAFE = re.compile(r"[\s{}\[\]#&*!|>'\"%@`\\]")
# The only placeholders runtime.yaml may use; they are replaced by validated names, and
# ``{port:<name>}`` by the number of the runtime's port <name> (so a port is written once).
PLACEHOLDERS = ("{model}", "{version}", "{publicKey}")  # {publicKey}: modelSignature.initCommand
PORT_PLACEHOLDER = re.compile(r"\{port:([a-z0-9-]{1,15})\}")


def _without_placeholders(value: str) -> str:
    for placeholder in PLACEHOLDERS:
        value = value.replace(placeholder, "x")
    return PORT_PLACEHOLDER.sub("1", value)


def port_placeholders(text: str) -> list[str]:
    """The port names ``text`` refers to as ``{port:<name>}``."""
    return PORT_PLACEHOLDER.findall(text)


def _matching(pattern: str, what: str, hint: str, *, max_length: int = 253, placeholders: bool = False):
    """A validator: no YAML/shell characters, at most ``max_length``, and ``pattern`` (``hint`` in words)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        plain = _without_placeholders(value) if placeholders else value
        bad = _UNSAFE.search(plain)
        if bad:
            raise ValueError(f"{what} {value!r} contains {bad.group()!r}, which is never allowed here")
        if len(value) > max_length:
            raise ValueError(f"{what} {value!r} is longer than {max_length} characters")
        if not compiled.fullmatch(plain):
            raise ValueError(f"{what} {value!r} is not valid: {hint}")
        return value

    return AfterValidator(check)


def _number_as_text(value):
    """YAML reads ``cpu: 2`` as an int; Kubernetes quantities are strings, so accept and convert."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _quantity(value: str) -> str:
    if _UNSAFE.search(value):
        raise ValueError(f"quantity {value!r} contains a space or a YAML character")
    try:
        amount = parse_quantity(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 1Gi)") from None
    if amount is None or amount <= Decimal(0):
        raise ValueError(f"quantity {value!r} must be greater than zero")
    return value


_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = rf"{_DNS_LABEL}(\.{_DNS_LABEL})*"
_LABEL_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)"
_IPV4 = r"\d{1,3}(\.\d{1,3}){3}"

_DNS_HINT = "lowercase letters, digits and '-', starting and ending with a letter or digit"
_LABEL_HINT = "letters, digits, '-', '_' and '.', starting and ending with a letter or digit"

# An object or port name: DNS-1123 label (Kubernetes' rule for namespaces, Services, models).
DnsLabel = Annotated[str, _matching(_DNS_LABEL, "name", _DNS_HINT, max_length=63)]
# A cluster-wide object name that Kubernetes checks as a DNS-1123 subdomain (a RuntimeClass).
DnsSubdomain = Annotated[
    str, _matching(_DNS_SUBDOMAIN, "name", f"{_DNS_HINT}, in '.'-separated parts", max_length=253)
]
# A port name: an IANA service name (lowercase, at most 15 characters).
PortName = Annotated[str, _matching(_DNS_LABEL, "port name", _DNS_HINT, max_length=15)]
# A label or node-selector key: optional DNS-subdomain prefix, then a name.
LabelKey = Annotated[
    str,
    _matching(rf"({_DNS_SUBDOMAIN}/)?{_LABEL_NAME}", "label key", f"[dns.prefix/]name; name: {_LABEL_HINT}"),
]
# A label value: empty or a name of at most 63 characters.
LabelValue = Annotated[str, _matching(rf"{_LABEL_NAME}?", "label value", _LABEL_HINT, max_length=63)]
# A Kubernetes resource quantity (CPU, memory), checked by lightkube's parser; always positive.
Quantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_quantity)]
# host[:port][/path] of an OCI registry: a DNS name or IPv4 address, no scheme, tag or digest.
_REGISTRY = re.compile(rf"({_DNS_SUBDOMAIN}|{_IPV4})(:\d{{1,5}})?(/[a-z0-9]+([._-][a-z0-9]+)*)*")


def _registry(value: str) -> str:
    """Images are pinned by digest at resolve time; a tag or digest here would be silently wrong."""
    if "://" in value:
        raise ValueError(f"registry {value!r} has a scheme; give host[:port][/path] only")
    if "@" in value:
        raise ValueError(f"registry {value!r} has a digest; digests come from the image build")
    path = value.split("/", 1)[1] if "/" in value else ""
    if ":" in path:
        raise ValueError(
            f"registry {value!r} has a tag; images are pinned by digest, give host[:port][/path]"
        )
    bad = _UNSAFE.search(value)
    if bad:
        raise ValueError(f"registry {value!r} contains {bad.group()!r}, which is never allowed here")
    if not _REGISTRY.fullmatch(value):
        raise ValueError(f"registry {value!r} is not host[:port][/path] (lowercase, no trailing '/')")
    return value


Registry = Annotated[str, AfterValidator(_registry)]
# A kubeconfig context name (kubectl allows more, but these are what clusters are named).
ContextName = Annotated[
    str, _matching(r"[A-Za-z0-9][A-Za-z0-9._:/-]*", "kubeconfig context", "letters, digits and . _ : / -")
]
# An absolute path inside a container; ``{model}`` may stand for the model's name.
# An RBAC subject: a user or group name as the cluster's authenticator spells it (OIDC emails,
# "system:serviceaccounts:ci", "creativeflow:deployers").
SubjectName = Annotated[
    str, _matching(r"[A-Za-z0-9][-A-Za-z0-9:._@]*", "RBAC subject", "letters, digits and - : . _ @")
]
ContainerPath = Annotated[
    str, _matching(r"(/[A-Za-z0-9._-]+)+/?", "container path", "an absolute path", placeholders=True)
]
# An HTTP path for probes and scraping; ``{model}`` may stand for the model's name.
HttpPath = Annotated[
    str, _matching(r"/[A-Za-z0-9._~/:-]*", "HTTP path", "a path starting with '/'", placeholders=True)
]
# A container command-line word or environment value: printable, no spaces or YAML characters.
Word = Annotated[
    str,
    _matching(
        r"[A-Za-z0-9._:/=+,-]*",
        "command word or value",
        "letters, digits and . _ : / = + , -",
        max_length=1024,
        placeholders=True,
    ),
]
# An environment variable name.
EnvName = Annotated[
    str, _matching(r"[A-Z_][A-Z0-9_]*", "environment variable name", "UPPER_CASE", max_length=128)
]
# A Python module path (for runtime hooks such as ``runtimes.triton.deploy_config``).
ModulePath = Annotated[
    str, _matching(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*", "module path", "a dotted module path")
]
# A file name inside a ConfigMap.
ConfigKey = Annotated[str, _matching(r"[-._A-Za-z0-9]+", "config file name", "letters, digits and . _ -")]
# A port number a server may listen on.
PortNumber = Annotated[int, Field(ge=1, le=65535)]
# A port on the host for the local runner: unprivileged only.
HostPort = Annotated[int, Field(ge=1024, le=65535)]


def expand(text: str, *, model: str, version: str, ports: dict[str, int] | None = None) -> str:
    """Fills runtime.yaml's placeholders; the values are already validated names and numbers
    (RuntimeSpec checks every ``{port:<name>}`` names one of its ports)."""
    text = text.replace("{model}", model).replace("{version}", version)
    return PORT_PLACEHOLDER.sub(lambda match: str((ports or {})[match.group(1)]), text)
