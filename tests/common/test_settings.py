import os
import subprocess
import sys

from django.conf import settings

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


def test_production_variables_switch_to_postgres_and_the_broker(tmp_path):
    result = _run(["-c", PRINT_MODE], PRODUCTION_ENV, tmp_path)

    assert result.returncode == 0, result.stderr
    engine, eager, debug, _ = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert eager == "False"
    assert debug == "False"


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}

    result = _run(["manage.py", "check"], env, tmp_path)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV, tmp_path
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
