"""Root conftest: fixtures every test suite may ask for.

``apiserver``: a real etcd + kube-apiserver for the session (tools/testing/pytest_apiserver.py).
"""

pytest_plugins = ["tools.testing.pytest_apiserver"]
