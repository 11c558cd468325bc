from tests.admin.test_admin_browser import open_browser  # noqa: F401  the headless Chromium
