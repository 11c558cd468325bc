"""The rows of "Today at my store", the admin's front page for staff.

Each app adds the queues it owns from its `AppConfig.ready()` with `today_row_register` (the
fulfillment queues, the returns to inspect, ...), so the page lists every kind of work
without `common` knowing any app. A row counts the work at the user's locations and links to
the list that shows it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest


@dataclass(frozen=True)
class TodayItem:
    """One thing a row calls out by name (a curbside customer and the bay they wait at)."""

    text: str
    url: str


@dataclass(frozen=True)
class TodayRow:
    key: str
    label: str
    count: Callable[[HttpRequest], int]
    url: Callable[[HttpRequest], str]
    # Rows sort by `position`; a highlighted row with work in it stands out on the page.
    position: int = 100
    highlight: bool = False
    items: Callable[[HttpRequest], list[TodayItem]] | None = None
    # Only for users who may open the list it links to (a model permission, "app.codename").
    permission: str = ""
    help_text: str = ""
    extra: dict = field(default_factory=dict)


_ROWS: dict[str, TodayRow] = {}


def today_row_register(row: TodayRow) -> None:
    """Add (or replace, by key) a row of "Today at my store"."""
    _ROWS[row.key] = row


def today_rows(request: HttpRequest) -> list[dict]:
    """The rows this user may see, counted now (the page is refreshed on every load)."""
    shown = []
    for row in sorted(_ROWS.values(), key=lambda r: (r.position, r.key)):
        if row.permission and not request.user.has_perm(row.permission):
            continue
        count = row.count(request)
        shown.append(
            {
                "key": row.key,
                "label": row.label,
                "count": count,
                "url": row.url(request),
                "highlight": row.highlight and count > 0,
                "help_text": row.help_text,
                "items": row.items(request) if row.items and count else [],
            }
        )
    return shown
