"""Batches sent by outside systems (a POS, a WMS, a PIM): each row is answered on its own
(`{"index", "status", "error"}`), so one bad row does not stop the others. Rows arrive
checked for shape by the API; those that were not valid come as `RejectedRow`."""

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import models


class RowStatus(models.TextChoices):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    CREATED = "created"
    UPDATED = "updated"
    ERROR = "error"


@dataclass(frozen=True)
class RejectedRow:
    """A row of a batch that failed validation, with its field errors."""

    errors: Mapping
    code: str | None = None  # the code it named, when it named one
