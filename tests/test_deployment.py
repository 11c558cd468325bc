"""docker-compose.yml cannot run here, so its contents are checked against the code."""

import importlib
import re
from pathlib import Path

import yaml
from django.conf import settings

BASE = Path(settings.BASE_DIR)


def _compose() -> dict:
    return yaml.safe_load((BASE / "docker-compose.yml").read_text())


def test_compose_has_the_production_services():
    services = _compose()["services"]

    assert set(services) >= {"db", "redis", "web", "worker", "beat"}
    assert services["db"]["image"].startswith("postgres:16")
    assert "healthcheck" in services["db"]
    assert services["web"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert any("pgdata" in volume for volume in services["db"]["volumes"])


def test_compose_commands_name_modules_that_exist():
    services = _compose()["services"]

    web = services["web"]["command"]
    assert "migrate" in services["migrate"]["command"]
    wsgi_module, attribute = re.search(r"gunicorn (\S+):(\S+)", web).groups()
    assert hasattr(importlib.import_module(wsgi_module), attribute)
    for name in ("worker", "beat"):
        app_module = re.search(r"celery -A (\S+) (\w+)", services[name]["command"]).group(1)
        assert importlib.import_module(app_module).celery_app.main == "omnistock"
        assert name in services[name]["command"]


def test_compose_environment_comes_from_the_example_file():
    example = dict(
        line.split("=", 1)
        for line in (BASE / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )

    for service in ("web", "worker", "beat"):
        assert _compose()["services"][service]["env_file"] == ".env"
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"} <= set(example)
    assert example["DATABASE_URL"].startswith("postgres://")
    assert "@db:" in example["DATABASE_URL"]
    assert "//redis:" in example["REDIS_URL"]
    assert (BASE / "Dockerfile").exists()
