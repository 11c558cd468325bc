from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from payments import handlers  # noqa: F401  (registers the outbox handlers)
