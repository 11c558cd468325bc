"""Startup warnings for a production deployment that would quietly not reach people."""

from django.conf import settings
from django.core.checks import Warning, register

CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"
CONSOLE_SMS = "common.notifications.ConsoleSmsBackend"


@register()
def messages_reach_people(app_configs, **kwargs) -> list[Warning]:
    """In production, email and SMS printed to the console never arrive: say so at startup."""
    if settings.EMBEDDED:
        return []
    warnings = []
    if settings.EMAIL_BACKEND == CONSOLE_EMAIL:
        warnings.append(
            Warning(
                "No mail server is configured: emails (pickup codes, order updates) are "
                "printed to the log, not sent.",
                hint="Set EMAIL_URL, or EMAIL_HOST with EMAIL_PORT, EMAIL_HOST_USER, "
                "EMAIL_HOST_PASSWORD and EMAIL_USE_TLS/EMAIL_USE_SSL (see .env.example).",
                id="common.W001",
            )
        )
    if settings.SMS_BACKEND == CONSOLE_SMS:
        warnings.append(
            Warning(
                "No SMS provider is configured: texts to customers known only by phone are "
                "printed to the log, not sent.",
                hint="Set SMS_BACKEND to a provider's backend class (common/notifications.py).",
                id="common.W002",
            )
        )
    return warnings
