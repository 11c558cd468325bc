from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"

    def ready(self) -> None:
        from customers import handlers  # noqa: F401  (registers the outbox handlers)
