from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from orders import handlers  # noqa: F401  (registers the outbox handlers)
        from orders.services.points import order_points_tender_follow
        from payments.signals import points_tender_moved

        def follow(sender, payment, transaction, **kwargs):
            order_points_tender_follow(payment=payment, transaction=transaction)

        points_tender_moved.connect(follow, dispatch_uid="orders-points-tender", weak=False)
