from common.errors import DomainError


class PaymentInvalid(DomainError):
    code = "payment_invalid"
    status = 400
    default_detail = "The payment is not valid."


class CaptureExceedsAuthorized(DomainError):
    code = "capture_exceeds_authorized"
    default_detail = "That is more than is left authorized on the payment."


class RefundExceedsCaptured(DomainError):
    code = "refund_exceeds_captured"
    default_detail = "That is more than was captured and not yet refunded."


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    default_detail = "This key was already used for a different amount."


class RefundNotRetryable(DomainError):
    code = "refund_not_retryable"
    default_detail = "Only a failed refund can be tried again."


class CaptureNotRetryable(DomainError):
    code = "capture_not_retryable"
    default_detail = "Only a failed capture can be tried again."


class VoidNotRetryable(DomainError):
    code = "void_not_retryable"
    default_detail = "Only a failed void can be tried again."
