from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from inventory.signals import pos_sale_for_member
        from orders import handlers  # noqa: F401  (registers the outbox handlers)
        from orders.services.points import order_points_pos_sale, order_points_tender_follow
        from payments.signals import points_tender_moved

        def follow(sender, payment, transaction, **kwargs):
            order_points_tender_follow(payment=payment, transaction=transaction)

        points_tender_moved.connect(follow, dispatch_uid="orders-points-tender", weak=False)

        def pos_sale(sender, movement, member_id, paid, **kwargs):
            order_points_pos_sale(movement=movement, member_id=member_id, paid=paid)

        pos_sale_for_member.connect(pos_sale, dispatch_uid="orders-points-pos-sale", weak=False)

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
