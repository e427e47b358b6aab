"""Kubernetes manifests for the platform's models: typed data in, validated objects out.

``render.render(model, env)`` builds the objects, ``resolve.resolve(model, env, digests)`` pins
images by digest, ``render.to_yaml(docs)`` prints them; ``validate`` checks them offline.
"""
