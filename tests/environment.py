"""The test configuration, however pytest is started (`make test`, an editor's
`.venv/bin/pytest tests/...`, CI): pyproject's addopts load this module as a plugin
(`-p tests.environment`), whose hook sets these defaults before pytest-django reads the
settings. A variable the caller set (even to "") wins.
"""

import os

import pytest

TEST_DEFAULTS = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/omnistock",  # pytest makes test_omnistock
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789abcdef",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "CELERY_TASK_ALWAYS_EAGER": "1",
    "DJANGO_STATIC_MANIFEST": "0",
    # Rate limits counted in each test process (cleared before every test), not in a Redis
    # that other runs share.
    "DJANGO_CACHE": "locmem",
}


def apply_test_defaults() -> None:
    for name, value in TEST_DEFAULTS.items():
        os.environ.setdefault(name, value)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args) -> None:
    apply_test_defaults()
