"""What `COPY . .` in the Dockerfile may not take into the image."""

import re
from pathlib import Path

import pytest
from django.conf import settings

BASE = Path(settings.BASE_DIR)


def _pattern(rule: str) -> re.Pattern:
    """A .dockerignore rule as Docker reads it: Go filepath.Match, plus `**` for any depth."""
    parts = []
    for piece in re.split(r"(\*\*/?|\*|\?)", rule.strip("/")):
        if piece.startswith("**"):
            parts.append("(?:.*/)?" if piece.endswith("/") else ".*")
        elif piece == "*":
            parts.append("[^/]*")
        elif piece == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(piece))
    # A rule that names a folder leaves out everything under it too.
    return re.compile("".join(parts) + "(?:/.*)?")


def _ignored(path: str) -> bool:
    rules = [
        line.strip()
        for line in (BASE / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    ignored = False
    for rule in rules:  # the last rule that matches wins; "!" lets a path back in
        keep = rule.startswith("!")
        if _pattern(rule.lstrip("!")).fullmatch(path):
            ignored = not keep
    return ignored


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        "var/omnistock.sqlite3",
        "var/demo-web-token.txt",
        ".venv/bin/python",
        ".git/config",
        "staticfiles/admin/css/base.css",
        "inventory/__pycache__/models.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
    ],
)
def test_the_image_leaves_out_secrets_local_data_and_caches(path):
    assert _ignored(path)


@pytest.mark.parametrize(
    "path",
    ["manage.py", "requirements.lock", "config/settings.py", "inventory/models.py", ".env.example"],
)
def test_the_image_keeps_the_code_it_runs(path):
    assert not _ignored(path)
