"""Run on its own by test_pytest_defaults.py: prints the configuration pytest started with."""

import json
import os
import sys

from django.conf import settings

from tests.environment import TEST_DEFAULTS


def test_print_the_configuration():
    seen = {name: os.environ.get(name) for name in TEST_DEFAULTS}
    seen["settings"] = {
        "database": settings.DATABASES["default"]["NAME"],
        "debug": settings.DEBUG,
        "eager": settings.CELERY_TASK_ALWAYS_EAGER,
        "ssl_redirect": getattr(settings, "SECURE_SSL_REDIRECT", False),
        "secret_key": settings.SECRET_KEY,
        "staticfiles": settings.STORAGES["staticfiles"]["BACKEND"],
    }
    sys.stdout.write("CONFIGURATION " + json.dumps(seen) + "\n")
