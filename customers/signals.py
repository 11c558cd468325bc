"""Signals for apps above customers (orders, returns, points) that must act in the same
transaction, connected in their own `AppConfig.ready()`.

`customer_merged` is sent inside `customer_merge`'s transaction, with both rows locked;
kwargs: `survivor`, `merged` (Customer; `merged.merged_into` is the survivor), `actor`.
Each receiver moves its own rows from `merged` to `survivor` (orders moves the orders and
writes a `customer_merged` event on each; returns and points move their own the same way).
A receiver that raises rolls the whole merge back.

`customer_scope` is sent by `customer_get` to learn which customers a caller may open by id;
kwargs: `user`, `auth` (the API token, whose `channel` names a sales channel; None in the
admin). Each receiver returns a `Q` over Customer (the customers it
knows the caller serves, e.g. orders: those with an order the caller may see) or None.
"""

from django.dispatch import Signal

customer_merged = Signal()
customer_scope = Signal()
