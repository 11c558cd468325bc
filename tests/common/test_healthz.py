import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.common.test_settings import MODE_VARS


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_ok(api_client, redis_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(api_client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = api_client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_healthz_is_503_when_the_database_is_down(tmp_path):
    """In a process of its own, pointed at a port where no database listens."""
    env = {k: v for k, v in os.environ.items() if k not in MODE_VARS}
    env.update(
        DATABASE_URL="postgres://postgres@127.0.0.1:1/omnistock",
        DJANGO_SECRET_KEY="healthz-test-secret-key-with-plenty-of-entropy-0123456789-abc",
        ALLOWED_HOSTS="testserver",
        DJANGO_SECURE_SSL_REDIRECT="0",
        OMNISTOCK_VAR_DIR=str(tmp_path),
    )
    probe = (
        "import json, django; django.setup(); from django.test import Client;"
        "r = Client().get('/healthz'); print(r.status_code, json.dumps(r.json()))"
    )

    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=settings.BASE_DIR, capture_output=True, text=True,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"}, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    status, body = result.stdout.split(" ", 1)
    assert status == "503"
    checks = json.loads(body)["checks"]
    assert checks["database"]["ok"] is False
    assert checks["broker"]["ok"] is True
