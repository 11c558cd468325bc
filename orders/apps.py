from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from customers.signals import customer_merged, customer_scope
        from orders.services.customers import (
            customers_with_visible_orders,
            orders_follow_customer_merge,
        )

        def follow_merge(sender, survivor, merged, actor=None, **kwargs):
            orders_follow_customer_merge(survivor=survivor, merged=merged, actor=actor)

        def scope(sender, user, auth=None, **kwargs):
            return customers_with_visible_orders(user=user, auth=auth)

        customer_merged.connect(follow_merge, dispatch_uid="orders-follow-merge", weak=False)
        customer_scope.connect(scope, dispatch_uid="orders-customer-scope", weak=False)
