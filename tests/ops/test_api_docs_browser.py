"""The API docs in a real browser that can reach nothing but the app itself."""

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _offline(page, live_server) -> list[str]:
    """Abort every request that is not to the app on this machine; the list of what was refused."""
    refused = []
    local = {"127.0.0.1", urlsplit(live_server.url).hostname}

    def route(route):
        if urlsplit(route.request.url).hostname in local:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return refused


def test_swagger_ui_renders_every_operation_with_no_network_but_the_app(open_browser, live_server):
    with open_browser() as page:
        refused = _offline(page, live_server)
        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector(".opblock", timeout=20000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        html = page.content()

    assert refused == []
    assert "/api/v1/orders" in " ".join(paths)
    assert len(paths) > 20
    assert "cdn.jsdelivr" not in html
