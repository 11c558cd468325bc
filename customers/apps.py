from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"

    def ready(self) -> None:
        from customers import handlers  # noqa: F401  (registers the outbox handlers)
        from customers.points import points_follow_merge
        from customers.signals import customer_merged

        def follow_merge(sender, survivor, merged, **kwargs):
            points_follow_merge(survivor=survivor, merged=merged)

        # The loyalty account is one of what a merge moves, as orders and returns are.
        customer_merged.connect(follow_merge, dispatch_uid="points-follow-merge", weak=False)
