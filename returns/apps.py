from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "returns"

    def ready(self) -> None:
        from returns import handlers  # noqa: F401  registers the outbox handlers
