import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests.environment import TEST_DEFAULTS

PRODUCTION_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/omnistock",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DJANGO_SECRET_KEY": "a-production-secret-key-with-plenty-of-entropy-0123456789-abcdefXYZ",
    "ALLOWED_HOSTS": "oms.example.com",
}
MODE_VARS = [
    "DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "ALLOWED_HOSTS",
    "CELERY_TASK_ALWAYS_EAGER", "DJANGO_SECURE_SSL_REDIRECT",
]  # fmt: skip


def _run(
    code_or_args: list[str], extra_env: dict[str, str], tmp_path
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in MODE_VARS}
    env.update(extra_env, OMNISTOCK_VAR_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=settings.BASE_DIR, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


PRINT_MODE = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; django.setup();"
    "from django.conf import settings as s;"
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.DEBUG, s.EMAIL_BACKEND)"
)


def test_embedded_default_uses_sqlite_in_var_and_runs_tasks_in_process(tmp_path):
    result = _run(["-c", PRINT_MODE], {}, tmp_path)

    assert result.returncode == 0, result.stderr
    engine, eager, debug, email = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert eager == "True"
    assert debug == "True"
    assert email.endswith("console.EmailBackend")


# The embedded default: a token answers on every request, its last use written a while ago
# included (the row's datetimes come back from SQLite aware, as the checks need them).
TOKEN_ON_SQLITE = """
import datetime, io, os
os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'
import django; django.setup()
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from common.models import ApiToken
call_command('migrate', verbosity=0)
out = io.StringIO(); call_command('issue_token', '--channel', 'web', stdout=out)
token = out.getvalue().split()[-1]
client = Client(HTTP_AUTHORIZATION='Token ' + token, raise_request_exception=False)
statuses = []
for _ in range(3):
    statuses.append(client.get('/api/v1/availability?sku=SKU-NONE').status_code)
    ApiToken.objects.update(last_used_at=timezone.now() - datetime.timedelta(hours=1))
print(*statuses)
"""


def test_embedded_default_checks_a_token_on_every_request(tmp_path):
    result = _run(["-c", TOKEN_ON_SQLITE], {"ALLOWED_HOSTS": "testserver"}, tmp_path)

    assert result.returncode == 0, result.stderr
    # An unknown SKU: the token let the request through each time.
    assert result.stdout.split()[-3:] == ["400", "400", "400"]


def test_production_variables_switch_to_postgres_and_the_broker(tmp_path):
    result = _run(["-c", PRINT_MODE], PRODUCTION_ENV, tmp_path)

    assert result.returncode == 0, result.stderr
    engine, eager, debug, _ = result.stdout.split()
    assert engine == "common.postgresql"
    assert eager == "False"
    assert debug == "False"


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}

    result = _run(["manage.py", "check"], env, tmp_path)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    env = {**PRODUCTION_ENV, "EMAIL_URL": "smtp://mail.example.com:587",
           "SMS_BACKEND": "common.notifications.BaseSmsBackend"}  # fmt: skip
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_pytest_started_from_an_editor_gets_the_configuration_of_make_test(tmp_path):
    """`.venv/bin/pytest tests/...` with none of the test variables set, as an editor runs
    it: pytest's own configuration supplies the defaults `make test` runs with, and a
    variable the caller set still wins."""
    env = {k: v for k, v in os.environ.items() if k not in {*TEST_DEFAULTS, *MODE_VARS}}
    env.update(REDIS_URL="redis://127.0.0.1:6379/14", OMNISTOCK_VAR_DIR=str(tmp_path))
    pytest_script = Path(sys.executable).parent / "pytest"

    result = subprocess.run(
        [str(pytest_script), "tests/common/settings_probe.py", "-qs", "-p", "no:cacheprovider"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("CONFIGURATION ")]
    seen = json.loads(line.removeprefix("CONFIGURATION "))
    assert seen.pop("settings") == {
        "database": "omnistock",
        "debug": False,
        "eager": True,
        "ssl_redirect": False,
        "secret_key": TEST_DEFAULTS["DJANGO_SECRET_KEY"],
        "staticfiles": "django.contrib.staticfiles.storage.StaticFilesStorage",
    }
    assert seen == {**TEST_DEFAULTS, "REDIS_URL": "redis://127.0.0.1:6379/14"}


def test_the_wsgi_application_loads_its_views_and_freezes_them_out_of_garbage_collection(
    tmp_path,
):
    probe = (
        "import gc, sys; import config.wsgi;"
        " print(gc.get_freeze_count() > 10_000, 'orders.views' in sys.modules)"
    )
    result = _run(["-c", probe], {"DJANGO_DEBUG": "1"}, tmp_path)

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True"]
