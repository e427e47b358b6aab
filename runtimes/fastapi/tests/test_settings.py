"""Settings from the environment, and the handler lookup: each mistake gets a one-line message."""

from __future__ import annotations

import sys

import pytest

from runtimes.fastapi.loader import HandlerError, resolve_handler
from runtimes.fastapi.settings import SettingsError, load_settings
from runtimes.fastapi.tests.conftest import TOY_HANDLER
from runtimes.fastapi.tests.toy_models import GatedSum

CONTRACT = (
    "MODEL_NAME",
    "MODEL_VERSION",
    "MODEL_HANDLER",
    "MODEL_PATH",
    "SERVER_HOST",
    "SERVER_PORT",
    "SERVER_MAX_UPLOAD_BYTES",
    "SERVER_MAX_IMAGE_PIXELS",
    "SERVER_WORKERS",
    "SERVER_INFERENCE_THREADS",
)


@pytest.fixture
def env(monkeypatch):
    for name in CONTRACT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_NAME", "toy")
    monkeypatch.setenv("MODEL_HANDLER", TOY_HANDLER)
    return monkeypatch


def test_defaults(env):
    settings = load_settings()
    assert (settings.server_host, settings.server_port) == ("0.0.0.0", 8000)
    assert settings.server_workers == 1 and settings.server_inference_threads == 1
    assert settings.model_version == "1"


def test_every_contract_variable_is_read(env):
    values = {
        "MODEL_NAME": "yolo",
        "MODEL_VERSION": "3",
        "MODEL_HANDLER": "models.yolo.handler:YOLOModelHandler",
        "MODEL_PATH": "/models/yolo",
        "SERVER_HOST": "127.0.0.1",
        "SERVER_PORT": "9000",
        "SERVER_MAX_UPLOAD_BYTES": "1000",
        "SERVER_MAX_IMAGE_PIXELS": "2000",
        "SERVER_WORKERS": "2",
        "SERVER_INFERENCE_THREADS": "4",
    }
    assert set(values) == set(CONTRACT)
    for name, value in values.items():
        env.setenv(name, value)
    settings = load_settings().model_dump()
    assert {name: str(settings[name.lower()]) for name in CONTRACT} == values


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SERVER_PORT", "http", "SERVER_PORT: Input should be a valid integer"),
        ("SERVER_PORT", "70000", "SERVER_PORT: Input should be less than or equal to 65535"),
        ("SERVER_WORKERS", "0", "SERVER_WORKERS: Input should be greater than or equal to 1"),
        ("SERVER_MAX_UPLOAD_BYTES", "-1", "SERVER_MAX_UPLOAD_BYTES: Input should be greater than 0"),
        ("MODEL_HANDLER", "models.yolo.handler", "MODEL_HANDLER: String should match pattern"),
        ("MODEL_NAME", "", "MODEL_NAME: String should have at least 1 character"),
        ("MODEL_NAME", "a/b", "MODEL_NAME: String should match pattern"),
    ],
)
def test_bad_values_name_the_variable(env, name, value, message):
    env.setenv(name, value)
    with pytest.raises(SettingsError, match="invalid server environment") as raised:
        load_settings()
    assert message in str(raised.value)


def test_missing_handler(env):
    env.delenv("MODEL_HANDLER")
    with pytest.raises(SettingsError, match="MODEL_HANDLER: Field required"):
        load_settings()


def test_resolve_handler():
    assert resolve_handler(TOY_HANDLER) is GatedSum


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no.such.module:Model", "cannot import 'no.such.module'"),
        ("runtimes.fastapi.errors:InvalidInput", "'InvalidInput' is not a runtimes.fastapi.model.Model"),
        ("runtimes.fastapi.tests.toy_models:Missing", "'Missing' is not a runtimes.fastapi.model.Model"),
    ],
)
def test_resolve_handler_errors(spec, message):
    with pytest.raises(HandlerError, match=message):
        resolve_handler(spec)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
