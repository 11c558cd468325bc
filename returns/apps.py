from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "returns"

    def ready(self) -> None:
        from customers.signals import customer_merged
        from returns import handlers, today  # noqa: F401  handlers: the outbox's
        from returns.services.customers import returns_follow_customer_merge

        def follow_merge(sender, survivor, merged, **kwargs):
            returns_follow_customer_merge(survivor=survivor, merged=merged)

        customer_merged.connect(follow_merge, dispatch_uid="returns-follow-merge", weak=False)
        today.register()
