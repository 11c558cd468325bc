"""What staff do to a fulfillment order, by name: the one registry behind the API's action
URLs and the admin's buttons, so both call the same service with the same input."""

from collections.abc import Callable
from dataclasses import dataclass

from rest_framework import serializers

from fulfillment.models import FulfillmentOrder
from fulfillment.serializers import (
    HandoverInputSerializer,
    RejectInputSerializer,
    ShipInputSerializer,
)
from fulfillment.services import actions, transfers


@dataclass(frozen=True)
class StaffAction:
    service: Callable[..., FulfillmentOrder]
    input_serializer: type[serializers.Serializer] | None = None
    # Taken by the store a transfer goes to, not by the location that sends it.
    at_destination: bool = False


STAFF_ACTIONS: dict[str, StaffAction] = {
    "accept": StaffAction(actions.fulfillment_accept),
    "reject": StaffAction(actions.fulfillment_reject, RejectInputSerializer),
    "pick": StaffAction(actions.fulfillment_pick),
    "pack": StaffAction(actions.fulfillment_pack),
    "ship": StaffAction(actions.fulfillment_ship, ShipInputSerializer),
    "ready": StaffAction(actions.fulfillment_ready),
    "handover": StaffAction(actions.fulfillment_handover, HandoverInputSerializer),
    "receive": StaffAction(transfers.fulfillment_receive, at_destination=True),
    "resend-code": StaffAction(actions.fulfillment_resend_code),
}
