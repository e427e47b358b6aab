"""The label keys every object of the platform carries, and what each one is used for.

The one place these strings are spelt: rendering puts them on objects, prune/delete/status find
objects by them (tools.deploy.kubernetes), the podman target finds its pods by them.
"""

from __future__ import annotations

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"  # one model (or the platform's shared objects): prune by this
PART_OF = "app.kubernetes.io/part-of"
VERSION = "app.kubernetes.io/version"
MANAGED_BY = "app.kubernetes.io/managed-by"  # with INSTANCE: objects this tool may prune
COMPONENT = "app.kubernetes.io/component"
# The COMPONENT of the platform's shared objects: never pruned with a model, whatever their kind.
PLATFORM_COMPONENT = "platform"
# Set by the API server on every Namespace (1.21+): NetworkPolicies pick namespaces by it.
NAMESPACE_NAME = "kubernetes.io/metadata.name"
# Only on pods the podman target plays: two podman environments on one machine must not collide.
ENVIRONMENT = "servectl.io/environment"
# Only on pods the podman target plays: which of a model's pods this is (a new version runs beside
# the serving one, on its own loopback ports, behind the model's front proxy); status finds it by it.
SLOT = "servectl.io/slot"
# Only on a canary Deployment's selector and pods (tools/deploy/kubernetes/canary.py): the usual
# ``track: canary`` of a canary, under our prefix so it cannot clash with a user's own ``track``.
TRACK = "servectl.io/track"
# On a model's revision history ConfigMap (tools/deploy/kubernetes/revisions.py), which must not
# carry INSTANCE: prune and delete would remove it.
REVISIONS_OF = "servectl.io/revisions-of"
# On the pod template: a config change alone rolls the pods.
CONFIG_SHA256 = "servectl/config-sha256"
