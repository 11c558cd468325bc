"""Routing a ship order in process, on the bench database: run by `run.py` as a subprocess.

For --repeat orders of --lines random SKUs (1 unit each) shipped to a random point of the
chain, as checkout routes them: the routing snapshot of the demand
(`inventory.snapshot.sourcing_candidates` given the `Demand`: only the candidates that can
change the decision, the rest counted) and the engine (`inventory.sourcing.route`) timed
apart and together, the candidates it returned, the locations the decision counted and the
size of the decision a caller stores. Then the same orders over the whole-chain snapshot a
re-route plans on (every location holding any of the lines), timed apart as `whole_chain_*`.
Prints one JSON object.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from inventory.models import DeliveryMethod, Sku
    from stores.models import Location

    rng = random.Random(args.seed)
    sku_ids = list(Sku.objects.order_by("id").values_list("id", flat=True))
    points = list(Location.objects.values_list("latitude", "longitude"))
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    orders = [
        (
            dict.fromkeys(rng.sample(sku_ids, min(args.lines, len(sku_ids))), 1),
            (rng.uniform(min(lats), max(lats)), rng.uniform(min(lons), max(lons))),
        )
        for _ in range(args.repeat + 1)  # the first is a warm-up
    ]
    checkout = probe(orders, method=DeliveryMethod.SHIP, bounded=True)
    whole = probe(orders, method=DeliveryMethod.SHIP, bounded=False)
    print(
        json.dumps(
            {
                "orders": args.repeat,
                "lines": args.lines,
                **checkout,
                **{f"whole_chain_{key}": value for key, value in whole.items()},
            }
        )
    )


def probe(orders: list, *, method: str, bounded: bool) -> dict:
    """Snapshot and route each order; the first is not counted."""
    from inventory.snapshot import sourcing_candidates
    from inventory.sourcing import Demand, route

    snapshot_ms, route_ms, total_ms, sizes, candidates, locations, ok = [], [], [], [], [], [], 0
    nearest = 0
    for index, (lines, point) in enumerate(orders):
        demand = Demand(method=method, lines=lines, point=point)
        started = time.perf_counter()
        pool = sourcing_candidates(
            sku_ids=list(lines), method=method, demand=demand if bounded else None
        )
        taken = time.perf_counter()
        decision = route(demand, pool)
        routed = time.perf_counter()
        if index == 0:
            continue
        snapshot_ms.append((taken - started) * 1000)
        route_ms.append((routed - taken) * 1000)
        total_ms.append((routed - started) * 1000)
        sizes.append(len(json.dumps(decision.as_dict(), default=str)))
        candidates.append(len(pool))
        locations.append(decision.summary.get("considered", len(pool)))
        nearest += bool(decision.summary.get("nearest_only"))
        ok += decision.ok
    return {
        "routed_ok": ok,
        "candidates_mean": sum(candidates) / len(candidates),
        "locations_mean": sum(locations) / len(locations),
        "nearest_only_share": nearest / len(locations),
        "snapshot_ms_p50": percentile(snapshot_ms, 0.5),
        "snapshot_ms_p99": percentile(snapshot_ms, 0.99),
        "route_ms_p50": percentile(route_ms, 0.5),
        "route_ms_p99": percentile(route_ms, 0.99),
        "total_ms_p50": percentile(total_ms, 0.5),
        "total_ms_p99": percentile(total_ms, 0.99),
        "decision_bytes_mean": sum(sizes) / len(sizes),
        "decision_bytes_max": max(sizes),
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


if __name__ == "__main__":
    main()
