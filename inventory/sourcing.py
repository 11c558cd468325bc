"""The routing engine: which locations supply a demand.

`route(demand, candidates)` is a pure function over a snapshot, so it is deterministic and
explainable: the decision lists every location considered, whether it was kept, why, and
its score. The snapshot is built by `inventory.selectors.sourcing_candidates`.

Ship: one location that has every line if possible; otherwise the fewest locations (an
exact search over the best candidates, greedy beyond that); ties go to the lower score:
distance to the customer, stretched and lengthened by the location's recent rejection
rate, then the preferred kind (warehouse before store by default), then stock depth, then
code.
Pickup, curbside and carry-out: the chosen store, or a shortage with nearby alternatives
(also when the store is closed or does not offer the method).
Ship-to-store (pickup or curbside with `allow_transfer`): what the store lacks is routed as
a ship order to the store itself, from other locations that can ship; the caller moves it
there with a transfer. Without `allow_transfer` a shortage still says whether that would work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from inventory.models import DeliveryMethod
from stores.geo import haversine_km
from stores.models import Location

AT_STORE = (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE, DeliveryMethod.CARRY_OUT)
# Units on their way to a pickup store are held with TRANSFER at their source, where they
# use ship capacity like a ship order.
USES_SHIP_CAPACITY = (DeliveryMethod.SHIP, DeliveryMethod.TRANSFER)

# How much a location's recent rejection rate stretches its distance (rate 1.0 -> x3)...
REJECTION_PENALTY = 2.0
# ...and adds to it, so the rate counts even at the customer's door (rate 1.0 -> +5 km).
REJECTION_PENALTY_KM = 5.0
# Exact search for the fewest locations over at most this many candidates.
EXACT_SEARCH_CANDIDATES = 14
MAX_SPLITS = 4
ALTERNATIVES = 5
CONSIDERED_SHOWN = 25


@dataclass(frozen=True)
class Candidate:
    """One location as the engine sees it: capabilities and per-SKU stock."""

    location_id: int
    code: str
    kind: str
    latitude: float
    longitude: float
    is_active: bool = True
    can_ship: bool = False
    can_pickup: bool = False
    can_curbside: bool = False
    capacity_left: int = 0
    rejection_rate: float = 0.0
    # sku id -> (available to promise online, available including safety stock)
    stock: dict[int, tuple[int, int]] = field(default_factory=dict)

    def units(self, sku_id: int, *, allow_safety_stock: bool) -> int:
        atp, free = self.stock.get(sku_id, (0, 0))
        return max(0, free if allow_safety_stock else atp)


@dataclass(frozen=True)
class Demand:
    method: str
    lines: dict[int, int]  # sku id -> quantity
    location_id: int | None = None  # the store for pickup, curbside and carry-out
    point: tuple[float, float] | None = None  # the customer, for ship
    exclude: frozenset[int] = frozenset()
    prefer: str = Location.Kind.WAREHOUSE
    allow_safety_stock: bool = False
    allow_transfer: bool = False  # pickup/curbside: ship what the store lacks into it


@dataclass(frozen=True)
class Allocation:
    location_id: int
    code: str
    sku_id: int
    quantity: int
    transfer_to: str = ""  # code of the store this is moved to (ship-to-store)


@dataclass
class RoutingDecision:
    method: str
    allocations: list[Allocation]
    considered: list[dict]
    shortages: dict[int, tuple[int, int]]  # sku id -> (requested, available)
    alternatives: list[dict] = field(default_factory=list)
    # A shortage at a pickup store that a transfer from other locations would cover.
    transfer_possible: bool = False
    # How many locations were considered, kept, and dropped for each reason: all of them,
    # where `considered` details only the chosen and the nearest.
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.shortages

    @property
    def transfers(self) -> list[Allocation]:
        return [a for a in self.allocations if a.transfer_to]

    @property
    def location_ids(self) -> list[int]:
        return sorted({a.location_id for a in self.allocations})

    def as_dict(self, sku_codes: dict[int, str] | None = None) -> dict:
        codes = sku_codes or {}

        def allocation(a: Allocation) -> dict:
            shown = {
                "location": a.code,
                "sku": codes.get(a.sku_id, a.sku_id),
                "quantity": a.quantity,
            }
            return {**shown, "transfer_to": a.transfer_to} if a.transfer_to else shown

        return {
            "method": self.method,
            "ok": self.ok,
            "locations": sorted({a.code for a in self.allocations}),
            "allocations": [allocation(a) for a in self.allocations],
            "considered": self.considered,
            "shortages": [
                {"sku": codes.get(sku, sku), "requested": req, "available": avail}
                for sku, (req, avail) in sorted(self.shortages.items())
            ],
            "transfer_possible": self.transfer_possible,
            "summary": self.summary,
        }


def route(demand: Demand, candidates: list[Candidate]) -> RoutingDecision:
    if demand.method == DeliveryMethod.SHIP:
        return _route_ship(demand, candidates)
    if demand.method in AT_STORE:
        return _route_at_store(demand, candidates)
    raise ValueError(f"unknown delivery method {demand.method!r}")


# --- ship ---------------------------------------------------------------------------------


def _distance(demand: Demand, c: Candidate) -> float:
    if demand.point is None:
        return 0.0
    return haversine_km(demand.point[0], demand.point[1], c.latitude, c.longitude)


def _score(demand: Demand, c: Candidate) -> tuple:
    """Lower is better: distance stretched and lengthened by the rejection rate, preferred
    kind, deeper stock, code."""
    rate = c.rejection_rate
    distance = _distance(demand, c) * (1 + REJECTION_PENALTY * rate) + REJECTION_PENALTY_KM * rate
    preferred = 0 if c.kind == demand.prefer else 1
    depth = sum(c.units(sku, allow_safety_stock=demand.allow_safety_stock) for sku in demand.lines)
    return (round(distance, 3), preferred, -depth, c.code)


def _ship_drop_reason(demand: Demand, c: Candidate) -> str | None:
    if c.location_id in demand.exclude:
        return "excluded_after_rejection"
    if not c.is_active:
        return "inactive"
    if not c.can_ship:
        return "no_capability"
    if c.capacity_left <= 0:
        return "capacity_used_up"
    if not any(c.units(sku, allow_safety_stock=demand.allow_safety_stock) for sku in demand.lines):
        held_back = any(c.units(sku, allow_safety_stock=True) for sku in demand.lines)
        return "safety_stock" if held_back else "no_stock"
    return None


def _covers(demand: Demand, combo: tuple[Candidate, ...]) -> bool:
    return all(
        sum(c.units(sku, allow_safety_stock=demand.allow_safety_stock) for c in combo) >= qty
        for sku, qty in demand.lines.items()
    )


def _allocate(demand: Demand, combo: list[Candidate]) -> list[Allocation]:
    """Fill each line from the chosen locations in score order."""
    allocations = []
    for sku, qty in sorted(demand.lines.items()):
        remaining = qty
        for c in combo:
            take = min(remaining, c.units(sku, allow_safety_stock=demand.allow_safety_stock))
            if take > 0:
                allocations.append(Allocation(c.location_id, c.code, sku, take))
                remaining -= take
            if remaining == 0:
                break
    return allocations


def _fewest_locations(demand: Demand, kept: list[Candidate]) -> list[Candidate] | None:
    scores = {c.location_id: _score(demand, c) for c in kept}
    ranked = sorted(kept, key=lambda c: scores[c.location_id])
    # One location with every line wins however far down the ranking it is; only the
    # search for splits is limited to the best candidates.
    whole = next((c for c in ranked if _covers(demand, (c,))), None)
    if whole is not None:
        return [whole]
    pool = ranked[:EXACT_SEARCH_CANDIDATES]
    for size in range(2, min(MAX_SPLITS, len(pool)) + 1):
        covering = [combo for combo in combinations(pool, size) if _covers(demand, combo)]
        if covering:
            best = min(covering, key=lambda combo: sorted(scores[c.location_id] for c in combo))
            return sorted(best, key=lambda c: scores[c.location_id])
    return _greedy(demand, ranked)


def _greedy(demand: Demand, ranked: list[Candidate]) -> list[Candidate] | None:
    """Set cover by most units still needed; beyond the exact search's reach."""
    remaining = dict(demand.lines)
    chosen: list[Candidate] = []
    while any(remaining.values()):

        def gain(c: Candidate) -> int:
            return sum(
                min(q, c.units(sku, allow_safety_stock=demand.allow_safety_stock))
                for sku, q in remaining.items()
            )

        best = max((c for c in ranked if c not in chosen), key=gain, default=None)
        if best is None or gain(best) == 0:
            return None
        chosen.append(best)
        for sku in remaining:
            remaining[sku] -= min(
                remaining[sku], best.units(sku, allow_safety_stock=demand.allow_safety_stock)
            )
    return chosen


def _route_ship(demand: Demand, candidates: list[Candidate]) -> RoutingDecision:
    considered, kept = [], []
    for c in sorted(candidates, key=lambda c: c.code):
        reason = _ship_drop_reason(demand, c)
        entry = {
            "location": c.code,
            "kind": c.kind,
            "distance_km": round(_distance(demand, c), 2),
            "rejection_rate": round(c.rejection_rate, 3),
            "capacity_left": c.capacity_left,
            "kept": reason is None,
        }
        if reason:
            entry["reason"] = reason
        else:
            entry["score"] = list(_score(demand, c)[:3])
            kept.append(c)
        considered.append(entry)

    summary = _summary(considered)
    chosen = _fewest_locations(demand, kept)
    if chosen is None:
        shortages = _shortages(demand, kept)
        return RoutingDecision(
            DeliveryMethod.SHIP, [], _explained(considered), shortages, summary=summary
        )
    chosen_codes = {c.code for c in chosen}
    for entry in considered:
        entry["chosen"] = entry["location"] in chosen_codes
    allocations = _allocate(demand, chosen)
    return RoutingDecision(
        DeliveryMethod.SHIP, allocations, _explained(considered), {}, summary=summary
    )


def _summary(considered: list[dict]) -> dict:
    dropped: dict[str, int] = {}
    for entry in considered:
        if "reason" in entry:
            dropped[entry["reason"]] = dropped.get(entry["reason"], 0) + 1
    return {
        "considered": len(considered),
        "kept": sum(entry["kept"] for entry in considered),
        "dropped": dict(sorted(dropped.items())),
    }


def _explained(considered: list[dict]) -> list[dict]:
    """The chosen locations and the nearest others: enough to explain, small enough to store."""
    nearest = sorted(considered, key=lambda e: (e["distance_km"], e["location"]))
    shown = [e for e in nearest if e.get("chosen")] + [e for e in nearest if not e.get("chosen")]
    return shown[:CONSIDERED_SHOWN]


def _shortages(demand: Demand, pool: list[Candidate]) -> dict[int, tuple[int, int]]:
    result = {}
    for sku, qty in demand.lines.items():
        available = sum(c.units(sku, allow_safety_stock=demand.allow_safety_stock) for c in pool)
        if available < qty:
            result[sku] = (qty, available)
    # Every line is coverable on its own but not together within the split limit.
    return result or {
        sku: (qty, sum(c.units(sku, allow_safety_stock=demand.allow_safety_stock) for c in pool))
        for sku, qty in demand.lines.items()
    }


# --- at a store -----------------------------------------------------------------------------


def _offers(method: str, c: Candidate) -> bool:
    if method == DeliveryMethod.PICKUP:
        return c.can_pickup
    if method == DeliveryMethod.CURBSIDE:
        return c.can_curbside
    return True  # carry-out: any location that sells


def _at_store_drop_reason(demand: Demand, store: Candidate) -> str | None:
    if not store.is_active:
        return "inactive"
    if not _offers(demand.method, store):
        return "no_capability"
    return None


def _route_at_store(demand: Demand, candidates: list[Candidate]) -> RoutingDecision:
    store = next((c for c in candidates if c.location_id == demand.location_id), None)
    if store is None:
        shortages = {sku: (qty, 0) for sku, qty in demand.lines.items()}
        return RoutingDecision(demand.method, [], [], shortages)
    reason = _at_store_drop_reason(demand, store)
    if reason:
        # Nothing is to be had there by this method, whatever its shelves hold.
        entry = {"location": store.code, "kept": False, "chosen": False, "reason": reason}
        shortages = {sku: (qty, 0) for sku, qty in demand.lines.items()}
        return RoutingDecision(
            demand.method, [], [entry], shortages, _alternatives(demand, store, candidates)
        )
    here = {
        sku: min(qty, store.units(sku, allow_safety_stock=demand.allow_safety_stock))
        for sku, qty in demand.lines.items()
    }
    missing = {sku: qty - here[sku] for sku, qty in demand.lines.items() if here[sku] < qty}
    at_store = [
        Allocation(store.location_id, store.code, sku, qty)
        for sku, qty in sorted(here.items())
        if qty > 0
    ]
    if not missing:
        entry = {"location": store.code, "kept": True, "chosen": True}
        return RoutingDecision(demand.method, at_store, [entry], {})
    transfer = _route_transfer(demand, store, candidates, missing)
    if demand.allow_transfer and transfer is not None and transfer.ok:
        # The store stays the pickup point; what it lacks comes in from the chosen sources.
        entry = {"location": store.code, "kept": True, "chosen": True, "receives_transfer": True}
        inbound = [
            Allocation(a.location_id, a.code, a.sku_id, a.quantity, transfer_to=store.code)
            for a in transfer.allocations
        ]
        return RoutingDecision(demand.method, at_store + inbound, [entry, *transfer.considered], {})
    entry = {"location": store.code, "kept": False, "chosen": False, "reason": "no_stock"}
    shortages = {sku: (qty, here[sku]) for sku, qty in demand.lines.items() if sku in missing}
    return RoutingDecision(
        demand.method,
        [],
        [entry],
        shortages,
        _alternatives(demand, store, candidates),
        transfer_possible=transfer is not None and transfer.ok,
    )


def _route_transfer(
    demand: Demand, store: Candidate, candidates: list[Candidate], missing: dict[int, int]
) -> RoutingDecision | None:
    """Route what the store lacks as a ship order to the store, from the other locations."""
    if demand.method not in (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE):
        return None  # a sale at the till cannot wait for a delivery
    to_store = Demand(
        method=DeliveryMethod.SHIP,
        lines=missing,
        point=(store.latitude, store.longitude),
        exclude=demand.exclude,
        prefer=demand.prefer,
    )
    others = [c for c in candidates if c.location_id != store.location_id]
    return _route_ship(to_store, others)


def _alternatives(
    demand: Demand, store: Candidate | None, candidates: list[Candidate]
) -> list[dict]:
    """Nearest other stores offering the same method that have every line."""
    if store is None:
        return []
    options = []
    for c in candidates:
        if c.location_id == store.location_id or not c.is_active or not _offers(demand.method, c):
            continue
        if all(
            c.units(sku, allow_safety_stock=demand.allow_safety_stock) >= qty
            for sku, qty in demand.lines.items()
        ):
            km = haversine_km(store.latitude, store.longitude, c.latitude, c.longitude)
            options.append((round(km, 2), c.code))
    return [{"location": code, "distance_km": km} for km, code in sorted(options)[:ALTERNATIVES]]
