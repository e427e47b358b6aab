"""Kubernetes manifests for the platform's models: typed data in, validated objects out.

By job: ``schema`` (the data files and their checks), ``render`` (objects from the data, images
pinned by ``render.resolve``), ``checks`` (offline validation, golden files); the label keys and
the kind order each live in one module (``label_keys``, ``kinds``). Sending objects to a cluster
or to podman is ``tools.deploy``'s job.
"""
