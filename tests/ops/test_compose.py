"""docker-compose.yml as an operator starts it: migrate once, then serve, each service checked."""

import re
from pathlib import Path

import yaml
from django.conf import settings

BASE = Path(settings.BASE_DIR)
APP_SERVICES = ("web", "worker", "beat")


def _services() -> dict:
    return yaml.safe_load((BASE / "docker-compose.yml").read_text())["services"]


def _example() -> dict[str, str]:
    lines = (BASE / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_a_one_shot_migrate_service_migrates_and_collects_static_files_first():
    services = _services()

    migrate = services["migrate"]
    assert "manage.py migrate --noinput" in migrate["command"]
    assert "manage.py collectstatic --noinput" in migrate["command"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert "migrate" not in services[name]["command"]


def test_every_long_running_service_restarts_and_has_a_healthcheck():
    services = _services()

    for name in ("db", "redis", *APP_SERVICES):
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("db", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "celery -A config inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    assert re.search(r"\$\{WEB_CONCURRENCY", services["web"]["command"].replace("$$", "$"))


def test_the_worker_consumes_both_queues_and_a_notifications_worker_can_take_its_own():
    services = _services()

    worker, notifications = services["worker"], services["notifications-worker"]
    # No -Q unless CELERY_WORKER_QUEUES says: the worker takes orders and notifications.
    assert "${CELERY_WORKER_QUEUES:+-Q $CELERY_WORKER_QUEUES}" in worker["command"].replace(
        "$$", "$"
    )
    assert "-Q notifications" in notifications["command"]
    assert notifications["profiles"] == ["notifications"]
    assert notifications["restart"] == "unless-stopped"
    assert "notifications@" in " ".join(notifications["healthcheck"]["test"])
    assert notifications["depends_on"]["migrate"]["condition"] == ("service_completed_successfully")
    for service in (worker, notifications):
        assert service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert service["environment"]["METRICS_PORT"]


def test_web_serves_metrics_of_all_its_workers():
    assert "-c config/gunicorn.py" in _services()["web"]["command"]


def test_the_example_environment_names_mail_and_sms_and_settings_read_every_variable():
    example = _example()
    read = (BASE / "config" / "settings.py").read_text()
    compose_only = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "WEB_CONCURRENCY"}

    assert {"EMAIL_URL", "DEFAULT_FROM_EMAIL", "SMS_BACKEND", "SMS_SENDER"} <= set(example)
    for name in set(example) - compose_only:
        assert f'"{name}"' in read, f"{name} is in .env.example but settings never read it"
    for name in ("db", "migrate", *APP_SERVICES):
        assert _services()[name]["env_file"] == ".env"
    assert "WEB_CONCURRENCY" in _services()["web"]["command"]
