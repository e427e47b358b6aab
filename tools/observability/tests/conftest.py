"""bus.jpg for the live scrape test: the fastapi runtime's image fixture (ultralytics' asset)."""

from runtimes.fastapi.tests.conftest import bus_jpg, ultralytics_asset  # noqa: F401
