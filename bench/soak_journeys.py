"""The user journeys `soak.py`'s clients loop over, each a chain of real REST API calls.

A storefront (the web channel's token) checks out, cancels, replays and opens returns online;
the location an order went to (its store app's token, a warehouse operator's token) accepts,
picks, packs, ships, makes ready, hands over, rejects, receives and inspects returns. Every
answer is recorded with the step it belongs to; an answer a user would not expect at that
step (or a 5xx, or no answer at all) is a breach the report lists.
"""

import email
import random
import re
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import requests

PICKUP_CODE = re.compile(r"Your pickup code: ([2-9A-Z]{6})\b")
SHIPPING_FEE, FREE_SHIPPING_FROM = Decimal("15.00"), Decimal("299.00")
SHIP_DATA = {"carrier": "SF Express", "tracking_number": "SF1234567890"}
POLL = 0.25


class JourneyFailed(Exception):
    """A step did not answer as expected: the journey stops (the answer is recorded)."""


@dataclass
class World:
    url: str
    web_token: str
    locations: dict[str, dict]
    skus: dict[str, str]  # code -> price
    scarce: dict
    mail_dir: Path
    request_timeout: float
    step_timeout: float

    @property
    def plenty(self) -> list[str]:
        """The SKUs stocked everywhere (all but the sold-out one)."""
        return sorted(code for code in self.skus if code != self.scarce["sku"])

    def stores(self, **flags: bool) -> list[str]:
        return [
            code
            for code, loc in self.locations.items()
            if loc["kind"] == "store" and all(loc[flag] for flag in flags)
        ]


@dataclass
class Recorder:
    """Every answer, shared by the client threads (one lock)."""

    calls: Counter = field(default_factory=Counter)  # (journey, step, status) -> count
    journeys: dict = field(default_factory=dict)  # name -> Counter(started, completed)
    checkouts: list = field(default_factory=list)
    server_errors: list = field(default_factory=list)
    transport_errors: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, journey: str, step: str, status: int) -> None:
        with self.lock:
            self.calls[(journey, step, status)] += 1

    def journey(self, name: str, what: str) -> None:
        with self.lock:
            self.journeys.setdefault(name, Counter())[what] += 1

    def checkout(self, *, journey: str, status: int, body, key: str) -> None:
        with self.lock:
            self.checkouts.append(
                {
                    "journey": journey,
                    "status": status,
                    "key": key,
                    "number": body.get("number") if isinstance(body, dict) else None,
                    "body": None if status == 201 else body,
                }
            )

    def server_error(self, item: dict) -> None:
        with self.lock:
            self.server_errors.append(item)

    def transport_error(self, item: dict) -> None:
        with self.lock:
            self.transport_errors.append(item)

    def unexpected_answer(self, journey: str, step: str, status: int, body) -> None:
        with self.lock:
            self.unexpected.append(
                {"journey": journey, "step": step, "status": status, "body": _short(body)}
            )

    def progress(self) -> str:
        with self.lock:
            done = sum(c["completed"] for c in self.journeys.values())
            return (
                f"{sum(self.calls.values())} requests, {done} journeys completed, "
                f"{len(self.server_errors)} 5xx, {len(self.unexpected)} unexpected"
            )

    def summary(self, seconds: float) -> dict:
        with self.lock:
            return {
                "seconds": seconds,
                "requests": sum(self.calls.values()),
                "journeys_total": sum(c["started"] for c in self.journeys.values()),
                "journeys": {
                    name: {"started": c["started"], "completed": c["completed"]}
                    for name, c in self.journeys.items()
                },
                "answers": [
                    {"journey": j, "step": s, "status": st, "count": n}
                    for (j, s, st), n in sorted(self.calls.items(), key=lambda kv: kv[0])
                ],
                "checkout_statuses": dict(Counter(str(c["status"]) for c in self.checkouts)),
                "server_errors_count": len(self.server_errors),
                "server_errors": self.server_errors[:50],
                "transport_errors_count": len(self.transport_errors),
                "transport_errors": self.transport_errors[:50],
                "unexpected_count": len(self.unexpected),
                "unexpected": self.unexpected[:50],
            }


def _short(body, limit: int = 1500):
    text = body if isinstance(body, str) else repr(body)
    return body if len(text) <= limit else text[:limit]


# --- one client -----------------------------------------------------------------------------


class Client:
    """One thread's session (a pooled HTTP connection) and its random choices."""

    def __init__(self, *, index: int, world: World, recorder: Recorder, seed: int, deadline):
        self.index, self.world, self.recorder = index, world, recorder
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.session = requests.Session()
        self.journey = ""
        self.count = 0

    # HTTP

    def call(
        self,
        step: str,
        method: str,
        path: str,
        *,
        token: str,
        body=None,
        key: str | None = None,
        expect=(200,),
        session: requests.Session | None = None,
    ) -> tuple[int, object]:
        """One request; its answer recorded. Anything but `expect` ends the journey."""
        if time.monotonic() > self.deadline:
            self.recorder.unexpected_answer(self.journey, step, 0, "past the run's deadline")
            raise JourneyFailed("deadline")
        headers = {"Authorization": f"Token {token}"}
        if key:
            headers["Idempotency-Key"] = key
        try:
            response = (session or self.session).request(
                method,
                self.world.url + path,
                json=body,
                headers=headers,
                timeout=self.world.request_timeout,
            )
        except requests.RequestException as exc:
            self.recorder.answer(self.journey, step, 0)
            self.recorder.transport_error(
                {"journey": self.journey, "step": step, "path": path, "error": repr(exc)}
            )
            raise JourneyFailed(step) from exc
        try:
            data = response.json()
        except ValueError:
            data = response.text
        status = response.status_code
        self.recorder.answer(self.journey, step, status)
        if status >= 500:
            self.recorder.server_error(
                {
                    "journey": self.journey,
                    "step": step,
                    "method": method,
                    "path": path,
                    "request": body,
                    "status": status,
                    "body": _short(data),
                }
            )
        if status not in expect:
            if status < 500:
                self.recorder.unexpected_answer(self.journey, step, status, data)
            raise JourneyFailed(step)
        return status, data

    def token_of(self, location: str) -> str:
        return self.world.locations[location]["token"]

    def wait(self, step: str, probe, *, timeout: float | None = None):
        """`probe()` until it returns something (the worker's after-commit work is done)."""
        limit = time.monotonic() + (timeout or self.world.step_timeout)
        while time.monotonic() < limit:
            found = probe()
            if found:
                return found
            time.sleep(POLL)
        self.recorder.unexpected_answer(self.journey, step, 0, "not done in time")
        raise JourneyFailed(step)

    # the storefront

    def customer(self) -> dict:
        self.count += 1
        return {"email": f"soak-{self.index}-{self.count}@example.com", "name": "Soak Customer"}

    def lines(self, count: int) -> list[dict]:
        codes = self.rng.sample(self.world.plenty, count)
        return [{"sku": code, "quantity": self.rng.randint(1, 2)} for code in codes]

    def ship_to(self) -> dict:
        near = self.world.locations[self.rng.choice(sorted(self.world.locations))]
        return {
            "method": "ship",
            "address": {
                "line1": "1 Soak Road",
                "city": near["city"],
                "postcode": near["postcode"],
                "country": "CN",
                "latitude": round(near["latitude"] + self.rng.uniform(-0.05, 0.05), 6),
                "longitude": round(near["longitude"] + self.rng.uniform(-0.05, 0.05), 6),
            },
        }

    def pickup_at(self, store: str | None = None) -> dict:
        return {
            "method": "pickup",
            "location": store or self.rng.choice(self.world.stores(can_pickup=True)),
        }

    def card(self, lines: list[dict], delivery: dict) -> list[dict]:
        goods = sum(Decimal(self.world.skus[line["sku"]]) * line["quantity"] for line in lines)
        shipping = (
            SHIPPING_FEE if delivery["method"] == "ship" and goods < FREE_SHIPPING_FROM else 0
        )
        amount = goods + shipping
        return [
            {
                "method": "card",
                "gateway": "dummy",
                "reference": f"auth_{uuid.uuid4().hex[:12]}",
                "amount": str(amount),
            }
        ]

    def checkout_body(self, lines: list[dict], delivery: dict) -> dict:
        return {
            "customer": self.customer(),
            "channel": "web",
            "lines": lines,
            "delivery": delivery,
            "payments": self.card(lines, delivery),
        }

    def checkout(self, body: dict, *, key: str | None = None, expect=(201,), session=None):
        key = key or uuid.uuid4().hex
        status, data = self.call(
            "checkout",
            "post",
            "/api/v1/checkout",
            token=self.world.web_token,
            body=body,
            key=key,
            expect=(*expect, 409, 422, 400),
            session=session,
        )
        self.recorder.checkout(journey=self.journey, status=status, body=data, key=key)
        if status not in expect:
            self.recorder.unexpected_answer(self.journey, "checkout", status, data)
            raise JourneyFailed("checkout")
        return data

    def order(self, number: str) -> dict:
        return self.call("order", "get", f"/api/v1/orders/{number}", token=self.world.web_token)[1]

    # the location

    def fulfillment_orders(self, number: str, location: str) -> list[dict]:
        _, data = self.call(
            "fulfillment-orders",
            "get",
            f"/api/v1/fulfillment-orders?order={number}&location={location}",
            token=self.token_of(location),
        )
        return data["results"]

    def released_at(self, number: str, location: str, *, status: str = "pending") -> dict:
        """The order's fulfillment order at `location` once the worker has released it."""
        return self.wait(
            "release",
            lambda: next(
                (fo for fo in self.fulfillment_orders(number, location) if fo["status"] == status),
                None,
            ),
        )

    def act(self, fo: dict, action: str, body: dict | None = None, *, expect=(200,)):
        return self.call(
            action,
            "post",
            f"/api/v1/fulfillment-orders/{fo['id']}/{action}",
            token=self.token_of(fo["location"]),
            body=body or {},
            expect=expect,
        )[1]

    def ship(self, fo: dict) -> None:
        for action in ("accept", "pick", "pack"):
            self.act(fo, action)
        self.act(fo, "ship", SHIP_DATA)

    def pickup_code(self, address: str, number: str) -> str:
        """The code in the latest 'ready' mail to `address` about `number`."""

        def probe():
            codes = [
                found.group(1)
                for message in read_mail(self.world.mail_dir, address)
                if number in message["subject"] and (found := PICKUP_CODE.search(message["body"]))
            ]
            return codes[-1] if codes else None

        return self.wait("pickup-code-mail", probe)

    def hand_over(self, fo: dict, address: str, number: str) -> None:
        for action in ("accept", "pick", "ready"):
            self.act(fo, action)
        self.act(fo, "handover", {"code": self.pickup_code(address, number)})

    def locations_of(self, order: dict) -> list[str]:
        return sorted(
            {r["location"] for line in order["lines"] for r in line.get("reservations", [])}
        )


# --- mail, as the customer reads it ---------------------------------------------------------

_MAIL_LOCK = threading.Lock()
_MAIL_CACHE: dict[str, tuple[int, list[dict]]] = {}
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def read_mail(folder: Path, address: str) -> list[dict]:
    """Every message to `address` that Django's file backend wrote into `folder`, oldest
    first (files are re-read only when they grew)."""
    found = []
    with _MAIL_LOCK:
        for path in sorted(folder.iterdir()):
            size = path.stat().st_size
            cached = _MAIL_CACHE.get(path.name)
            if cached is None or cached[0] != size:
                cached = (size, _parse_mail(path.read_bytes()))
                _MAIL_CACHE[path.name] = cached
            found += [m for m in cached[1] if address in m["to"]]
    return found


def _parse_mail(data: bytes) -> list[dict]:
    messages = []
    for chunk in data.split(MAIL_SEPARATOR):
        if not chunk.strip():
            continue
        message = email.message_from_bytes(chunk.lstrip(b"\n"))
        part = next((p for p in message.walk() if p.get_content_type() == "text/plain"), None)
        payload = part.get_payload(decode=True) if part is not None else b""
        body = payload.decode(part.get_content_charset() or "utf-8", "replace") if payload else ""
        messages.append(
            {"to": message.get("To", ""), "subject": str(message.get("Subject", "")), "body": body}
        )
    return messages


# --- the journeys ---------------------------------------------------------------------------


def ship_journey(c: Client) -> None:
    """Ship checkout -> released -> accepted, picked, packed, shipped -> sometimes returned."""
    body = c.checkout_body(c.lines(c.rng.randint(1, 2)), c.ship_to())
    order = c.checkout(body)
    for location in c.locations_of(order):
        c.ship(c.released_at(order["number"], location))
    if c.rng.random() < 0.5:
        return_journey(c, order, body["customer"]["email"])


def pickup_journey(c: Client) -> None:
    """Pickup checkout -> accepted, picked, ready -> handed over with the mailed code."""
    body = c.checkout_body(c.lines(c.rng.randint(1, 2)), c.pickup_at())
    order = c.checkout(body)
    [location] = c.locations_of(order)
    address = body["customer"]["email"]
    c.hand_over(c.released_at(order["number"], location), address, order["number"])
    if c.rng.random() < 0.5:
        return_journey(c, order, address)


def reject_journey(c: Client) -> None:
    """A location rejects: a ship order is re-routed (and shipped from there), a pickup is
    cancelled whole."""
    pickup = c.rng.random() < 0.4
    delivery = c.pickup_at() if pickup else c.ship_to()
    body = c.checkout_body(c.lines(1), delivery)
    order = c.checkout(body)
    number = order["number"]
    [location] = c.locations_of(order)
    fo = c.released_at(number, location)
    if c.rng.random() < 0.5:
        c.act(fo, "accept")
    c.act(fo, "reject", {"reason": "no_capacity"})

    def settled():
        now = c.order(number)
        moved = [loc for loc in c.locations_of(now) if loc != location]
        return now if now["status"] == "cancelled" or moved else None

    after = c.wait("re-route", settled)
    if pickup or after["status"] == "cancelled":
        if pickup and after["status"] != "cancelled":
            c.recorder.unexpected_answer(c.journey, "re-route", 200, after["status"])
        return
    for other in c.locations_of(after):
        if other in c.world.locations:
            c.ship(c.released_at(number, other))


def cancel_journey(c: Client) -> None:
    """Checkout, then the storefront cancels the whole order or one unit of a line."""
    delivery = c.pickup_at() if c.rng.random() < 0.5 else c.ship_to()
    body = c.checkout_body(c.lines(2), delivery)
    order = c.checkout(body)
    number = order["number"]
    if c.rng.random() < 0.3:
        time.sleep(c.rng.uniform(0, 0.5))  # sometimes after the release, sometimes before
    if c.rng.random() < 0.5:
        data = c.call(
            "cancel",
            "post",
            f"/api/v1/orders/{number}/cancel",
            token=c.world.web_token,
            body={"reason": "changed my mind"},
        )[1]
        if data["status"] != "cancelled":
            c.recorder.unexpected_answer(c.journey, "cancel", 200, data["status"])
    else:
        line = order["lines"][0]
        c.call(
            "cancel-line",
            "post",
            f"/api/v1/orders/{number}/lines/{line['id']}/cancel",
            token=c.world.web_token,
            body={"quantity": 1},
        )


def scarce_journey(c: Client) -> None:
    """The almost sold-out SKU for pickup at its store: an order or a clean 409; an order is
    cancelled again a moment later (the customer changed their mind), back on the shelf."""
    scarce = c.world.scarce
    lines = [{"sku": scarce["sku"], "quantity": c.rng.randint(1, scarce["units"] + 1)}]
    body = c.checkout_body(lines, c.pickup_at(scarce["store"]))
    order = c.checkout(body, expect=(201, 409))
    if order.get("code") == "insufficient_stock":
        return
    if "number" not in order:
        c.recorder.unexpected_answer(c.journey, "checkout", 409, order)
        return
    time.sleep(c.rng.uniform(0, 1))
    c.call(
        "cancel",
        "post",
        f"/api/v1/orders/{order['number']}/cancel",
        token=c.world.web_token,
        body={},
    )


def replay_journey(c: Client) -> None:
    """The storefront retries a checkout with the same Idempotency-Key, sometimes while the
    first attempt is still in flight: one order, whose answer comes back; the key with
    another body is refused (422)."""
    body = c.checkout_body(c.lines(1), c.ship_to())
    key = uuid.uuid4().hex
    first = duplicate_checkout(c, body, key) if c.rng.random() < 0.5 else c.checkout(body, key=key)
    again = c.checkout(body, key=key)
    if again.get("number") != first["number"]:
        c.recorder.unexpected_answer(
            c.journey, "replay", 201, {"first": first["number"], "again": again.get("number")}
        )
    other = dict(body, lines=c.lines(1))
    refused = c.checkout(other, key=key, expect=(422,))
    if refused.get("code") != "idempotency_key_reused":
        c.recorder.unexpected_answer(c.journey, "replay-other-body", 422, refused)


def duplicate_checkout(c: Client, body: dict, key: str) -> dict:
    """The same checkout sent twice at once on two connections: both answers are the one
    order (or the duplicate is a clean 409 while the first is in flight)."""
    answers: dict[str, dict | None] = {}

    def send(name: str, session: requests.Session | None) -> None:
        try:
            answers[name] = c.checkout(body, key=key, expect=(201, 409), session=session)
        except JourneyFailed:
            answers[name] = None

    with requests.Session() as twin:
        thread = threading.Thread(target=send, args=("twin", twin))
        thread.start()
        send("first", None)
        thread.join()
    numbers = {a["number"] for a in answers.values() if a and "number" in a}
    if len(numbers) != 1:
        c.recorder.unexpected_answer(c.journey, "duplicate", 0, answers)
        raise JourneyFailed("duplicate")
    return next(a for a in answers.values() if a and "number" in a)


def return_journey(c: Client, order: dict, address: str) -> None:
    """Once the money is captured: a return at any store, at the counter or opened online
    and dropped off, inspected as resalable, refunded."""
    c.recorder.journey("return", "started")
    number = order["number"]
    c.wait("captured", lambda: Decimal(c.order(number)["totals"]["captured"]) > 0)
    store = c.rng.choice(c.world.stores(accepts_returns=True))
    line = order["lines"][0]
    lines = [{"line": line["id"], "quantity": 1, "reason": "too small"}]
    token = c.token_of(store)
    if c.rng.random() < 0.5:
        ret = c.call(
            "return-at-counter",
            "post",
            "/api/v1/returns",
            token=token,
            body={"order": number, "location": store, "lines": lines},
            key=uuid.uuid4().hex,
            expect=(201,),
        )[1]
    else:
        opened = c.call(
            "return-online",
            "post",
            "/api/v1/returns",
            token=c.world.web_token,
            body={"order": number, "lines": lines},
            key=uuid.uuid4().hex,
            expect=(201,),
        )[1]
        ret = c.call(
            "return-receive",
            "post",
            f"/api/v1/returns/{opened['rma']}/receive",
            token=token,
            body={"location": store},
        )[1]
    if ret["status"] != "received":
        c.recorder.unexpected_answer(c.journey, "return", 200, ret)
    inspected = c.call(
        "return-inspect",
        "post",
        f"/api/v1/returns/{ret['rma']}/inspect",
        token=token,
        body={"lines": [{"line": line["id"], "condition": "resalable", "disposition": "restock"}]},
    )[1]
    refunds = inspected.get("refunds") or []
    if not refunds or any(r["status"] == "failed" for r in refunds):
        c.recorder.unexpected_answer(c.journey, "refund", 200, inspected)
        return
    c.recorder.journey("return", "completed")


JOURNEYS = {
    "ship": (ship_journey, 25),
    "pickup": (pickup_journey, 20),
    "reject": (reject_journey, 10),
    "cancel": (cancel_journey, 15),
    "scarce": (scarce_journey, 15),
    "replay": (replay_journey, 10),
}


def run_client(
    *, index: int, world: World, recorder: Recorder, seed: int, stop_at: float, deadline: float
) -> None:
    """Journeys one after another until `stop_at`; none past `deadline`."""
    client = Client(index=index, world=world, recorder=recorder, seed=seed, deadline=deadline)
    names = sorted(JOURNEYS)
    weights = [JOURNEYS[name][1] for name in names]
    try:
        while time.monotonic() < stop_at:
            name = client.rng.choices(names, weights)[0]
            client.journey = name
            recorder.journey(name, "started")
            try:
                JOURNEYS[name][0](client)
            except JourneyFailed:
                continue
            except Exception:
                recorder.unexpected_answer(name, "client", 0, traceback.format_exc())
                continue
            recorder.journey(name, "completed")
    finally:
        client.session.close()
