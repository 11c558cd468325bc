from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"

    def ready(self) -> None:
        from fulfillment import (
            handlers,  # noqa: F401  registers the outbox handlers
            today,
        )
        from fulfillment.services.actions import fulfillment_orders_follow_order
        from orders.signals import order_cancelled

        def follow(sender, order, line_ids, **kwargs):
            fulfillment_orders_follow_order(order=order, line_ids=line_ids)

        order_cancelled.connect(follow, dispatch_uid="fulfillment-follows-order-cancel", weak=False)
        today.register()
