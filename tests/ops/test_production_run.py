"""`make run` with DATABASE_URL, as an operator runs it: collected static files, gunicorn, and
what plain HTTP and a TLS-terminating proxy each allow."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model

from common.tokens import token_issue
from tests.common.test_serve import _healthz
from tests.common.test_settings import MODE_VARS
from tests.conftest import database_url_for_processes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "a-long-operator-password-4711"
HTTPS = {"X-Forwarded-Proto": "https"}
PORTS = range(17600, 17700)


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


def _children(pid: int) -> dict[int, str]:
    """The direct children of `pid` and their command lines, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return {child: cmdline.decode() for child, cmdline in found.items()}


def _serve_pid(make_pid: int) -> int:
    """make's recipe execs `manage.py serve`: the one child of make."""
    return next(pid for pid, cmd in _children(make_pid).items() if "serve" in cmd)


@pytest.fixture
def production_server(tmp_path):
    """`make run` in production mode on a free port, against the test database."""
    port = _free_port()
    skip = {*MODE_VARS, "MAKEFLAGS", "PORT", "DJANGO_STATIC_MANIFEST"}
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env.update(
        DATABASE_URL=database_url_for_processes(),
        DJANGO_SECRET_KEY="production-run-test-secret-key-with-plenty-of-entropy-0123456789",
        ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        OMNISTOCK_VAR_DIR=str(tmp_path),
        WEB_CONCURRENCY="2",
        PORT=str(port),
    )
    log_path = tmp_path / "run.log"
    log = log_path.open("w")
    # `-o` keeps make from reinstalling the (shared, already installed) virtualenv.
    run = subprocess.Popen(
        ["make", "-o", ".venv/bin/.installed", "run"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while _healthz(port) != 200 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.5)
        assert _healthz(port) == 200, log_path.read_text()
        yield run, f"http://127.0.0.1:{port}", log_path
    finally:
        if run.poll() is None:
            serve = next((p for p, c in _children(run.pid).items() if "serve" in c), None)
            if serve:  # serve stops gunicorn; make then exits with it
                os.kill(serve, signal.SIGTERM)
            try:
                run.wait(timeout=30)
            except subprocess.TimeoutExpired:
                run.kill()
        log.close()


def _cookies(response: requests.Response) -> dict[str, str]:
    return {cookie.name: cookie.value for cookie in response.cookies}


def _login_behind_proxy(base: str, *, username: str) -> tuple[str, requests.Response]:
    """Log in to the admin as a browser behind a TLS-terminating proxy would; the cookie header."""
    page = requests.get(f"{base}/admin/login/", headers=HTTPS, timeout=10)
    csrf = _cookies(page)["csrftoken"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = requests.post(
        f"{base}/admin/login/?next=/admin/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={**HTTPS, "Cookie": f"csrftoken={csrf}", "Referer": f"https://{base[7:]}/admin/"},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    session = _cookies(answer).get("sessionid", "")
    return f"csrftoken={csrf}; sessionid={session}", answer


def test_make_run_with_a_database_serves_the_admin_docs_and_a_change_page_with_gunicorn(
    production_server, xuhui
):
    run, base, log_path = production_server
    get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)

    web = _children(_serve_pid(run.pid)).values()
    assert any("gunicorn" in c and "--workers 2" in c for c in web), web
    assert not any("runserver" in c for c in web)
    assert (Path(settings.STATIC_ROOT) / "staticfiles.json").exists()
    assert requests.get(f"{base}/admin/login/", timeout=10).status_code == 200
    assert requests.get(f"{base}/api/docs/", timeout=10).status_code == 200
    cookie, answer = _login_behind_proxy(base, username="operator")
    assert answer.status_code == 302, answer.text[:500]
    change = requests.get(
        f"{base}/admin/stores/location/{xuhui.pk}/change/",
        headers={**HTTPS, "Cookie": cookie}, allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert change.status_code == 200
    assert "Xuhui store" in change.text
    assert "Missing staticfiles manifest" not in log_path.read_text()


def test_plain_http_serves_api_tokens_but_keeps_no_admin_session(production_server, tee):
    _run, base, _log = production_server
    get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)
    key = token_issue(user=get_user_model().objects.create_user("shop"), channel="web")

    api = requests.get(
        f"{base}/api/v1/skus/{tee.code}", headers={"Authorization": f"Token {key}"}, timeout=10
    )
    assert api.status_code == 200, api.text

    # A browser over plain HTTP drops Secure cookies: the login form comes back without its
    # CSRF cookie and is refused, so no session is ever made.
    browser = requests.Session()
    page = browser.get(f"{base}/admin/login/", timeout=10)
    assert page.status_code == 200
    assert all(cookie.secure for cookie in page.cookies)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    refused = browser.post(
        f"{base}/admin/login/",
        data={"username": "operator", "password": PASSWORD, "csrfmiddlewaretoken": token},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert refused.status_code == 403
    assert "CSRF verification failed" in refused.text
    assert "requires a CSRF cookie" in refused.text
    assert "sessionid" not in _cookies(refused)


def test_behind_a_proxy_that_says_https_the_admin_login_sets_secure_cookies(production_server):
    _run, base, _log = production_server
    get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)

    cookie, answer = _login_behind_proxy(base, username="operator")

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/"
    session = next(c for c in answer.cookies if c.name == "sessionid")
    assert session.secure
    assert "Strict-Transport-Security" in answer.headers
    home = requests.get(f"{base}/admin/", headers={**HTTPS, "Cookie": cookie}, timeout=10)
    assert home.status_code == 200
    assert "Log out" in home.text
