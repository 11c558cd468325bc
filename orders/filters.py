import django_filters

from common.models import Channel
from customers.selectors import customer_lookup
from orders.models import Order
from orders.selectors import order_list


class OrderFilter(django_filters.FilterSet):
    """The order list's filters; a bad `status` or `channel` is a 400 with field errors."""

    # First: naming a customer widens what staff see to that customer's whole history
    # (see order_list), which the other filters then narrow.
    customer = django_filters.CharFilter(
        method="filter_customer",
        max_length=254,
        help_text="Email, phone or member id: that customer's orders across every channel.",
    )
    status = django_filters.ChoiceFilter(choices=Order.Status.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)

    class Meta:
        model = Order
        fields = ["customer", "status", "channel"]

    def filter_customer(self, queryset, name, value):
        customer = customer_lookup(identifier=value)
        if customer is None:
            return queryset.none()
        return order_list(user=self.request.user, auth=self.request.auth, customer=customer)
