"""Writes of payments: one function per use case, each its own transaction.

Money moves in two steps. A service locks the payment row, checks, and writes a `pending`
transaction in the caller's transaction, with an outbox event; after commit a worker calls
the gateway with that row's id as the idempotency key (`payment_transaction_execute`), and
the outcome is written under the payment's lock again. So a rollback sends nothing, and a
retry after a timeout is the same request to the gateway: it cannot move money twice. A
transaction that failed without a known answer (the gateway unreachable or timing out on
every try) keeps its amount held, as a pending one does, until it is retried to a known
answer; only a decline lets the amount go.

- `tenders`: recording a demand's tenders
- `captures`: captures and voids, and retrying a failed capture or void
- `refunds`: refunds, and retrying a failed refund
- `settle`: a demand that shrank (a cancel) voids and refunds what it no longer owes
- `execute`: the gateway call after commit and its outcome
"""

from payments.services._base import (
    AT_TILL,
    CAPTURE_ORDER,
    REFUND_ORDER,
    THROUGH_GATEWAY,
    TOPIC_EXECUTE,
    VOID_ORDER,
    Kind,
    Method,
    TxStatus,
)
from payments.services.captures import (
    capture_retry,
    demand_capture,
    payment_capture,
    payment_void,
    payments_capture,
    void_retry,
)
from payments.services.execute import payment_transaction_execute
from payments.services.refunds import refund_issue, refund_retry
from payments.services.settle import DemandSettled, demand_settle
from payments.services.tenders import (
    Tender,
    has_ledger,
    payment_record,
    payments_insert,
    payments_new,
    payments_record,
)

__all__ = [
    "AT_TILL",
    "CAPTURE_ORDER",
    "REFUND_ORDER",
    "THROUGH_GATEWAY",
    "TOPIC_EXECUTE",
    "VOID_ORDER",
    "DemandSettled",
    "Kind",
    "Method",
    "Tender",
    "TxStatus",
    "capture_retry",
    "demand_capture",
    "demand_settle",
    "has_ledger",
    "payment_capture",
    "payment_record",
    "payment_transaction_execute",
    "payment_void",
    "payments_capture",
    "payments_insert",
    "payments_new",
    "payments_record",
    "refund_issue",
    "refund_retry",
    "void_retry",
]
