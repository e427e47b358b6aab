"""Rendering: typed data in, an ordered list of Kubernetes objects out; resolve pins images.

``render(model, env)`` and ``render_inputs(inputs)`` build the objects (``manifests``),
``tools.k8s.render.resolve`` swaps image labels for digests, ``to_yaml`` prints them.
"""

from tools.k8s.render.manifests import render, render_inputs, to_yaml

__all__ = ["render", "render_inputs", "to_yaml"]
