"""A small KServe-like model server: any Python model class plugs in through ``MODEL_HANDLER``.

Layers, each importable on its own: ``model`` (the handler base class), ``dataplane`` (health,
metadata, inference; no web imports), ``protocol`` (pydantic V2 request/response models),
``routers`` (thin FastAPI routes), ``errors`` (exceptions and their HTTP codes), ``metrics``
(Prometheus collectors), ``settings`` (environment), ``app`` (wires them) and ``__main__``
(``python3 -m runtimes.fastapi`` runs uvicorn).
"""
