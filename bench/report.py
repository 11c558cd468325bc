"""results.json, results.md (the tables, also printed) and the PNG plots of a `make bench` run."""

import json
import math
from pathlib import Path


def write(results: dict, out: Path, *, plots: bool = True) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results)
    (out / "results.md").write_text(text)
    print("\n" + text)
    if plots:
        try:
            results["plots"] = draw(results, out)
        except ImportError as exc:  # matplotlib is a dev dependency
            print(f"(no plots: {exc})")
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


def fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def ratio(value, ceiling) -> str:
    return "-" if not value or not ceiling else f"{value / ceiling:.4f}"


def table(headers: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _upkeep(server: dict) -> str:
    """Who kept the tables analyzed during the loads (bench/upkeep.py)."""
    if server.get("autovacuum") == "off":
        return "; autovacuum off, so the bench analyzed the tables as it would"
    return ""


def markdown(results: dict) -> str:
    meta = results.get("meta", {})
    server = meta.get("server", {})
    out = [
        f"# make bench: {meta.get('scale')} ({meta.get('locations')} locations x "
        f"{meta.get('skus')} SKUs)",
        "",
        f"Started {meta.get('started')}; {meta.get('seconds_per_level')} s per level; "
        f"{meta.get('lines_per_order')}-line ship orders; gunicorn "
        f"{meta.get('gunicorn_workers')} workers, Celery concurrency "
        f"{meta.get('celery_concurrency')}; PostgreSQL {server.get('postgres', '?')} "
        f"(synchronous_commit={server.get('synchronous_commit', '?')}, "
        f"fsync={server.get('fsync', '?')}{_upkeep(server)}); {server.get('cpu_cores', '?')} "
        "cores; load "
        f"average {fmt(meta.get('load_average_start'), 2)} at start, "
        f"{fmt(meta.get('load_average_end'), 2)} at end.",
        "",
    ]
    ceiling = {row["clients"]: row for row in results.get("ceiling", [])}
    checkout = results.get("checkout", [])
    if checkout or ceiling:
        out += ["## Checkout over HTTP beside the raw-SQL ceiling", ""]
        rows = []
        for row in checkout or [{"clients": c} for c in ceiling]:
            top = ceiling.get(row["clients"], {})
            rows.append([
                row["clients"],
                fmt(row.get("orders_per_s")),
                fmt(top.get("per_s")),
                ratio(row.get("orders_per_s"), top.get("per_s")),
                fmt(row.get("p50_ms")),
                fmt(row.get("p99_ms")),
                fmt(top.get("p99_ms"), 2),
                fmt(row.get("orders")),
                fmt(row.get("conflicts_409")),
                fmt((row.get("errors_non_2xx") or 0) + (row.get("socket_errors") or 0)
                    if "orders" in row else None),
                fmt(100 * row["wrk_cpu_share"] if "wrk_cpu_share" in row else None),
                fmt(row.get("server_cpu_ms_per_order")),
                fmt(row.get("worker_cpu_ms_per_order")),
                fmt(row.get("release_p95_ms")),
                fmt(row.get("backlog_at_end")),
                fmt(row.get("drain_s")),
            ])  # fmt: skip
        out += table(
            [
                "clients", "orders/s", "ceiling/s", "÷ ceiling", "p50 ms", "p99 ms",
                "ceiling p99 ms", "orders", "409", "other errors", "wrk CPU %",
                "server CPU ms/order", "worker CPU ms/order", "release p95 ms",
                "backlog at end", "drain s",
            ],
            rows,
        )  # fmt: skip
    if any("machine_cpu_ms_per_order" in row for row in checkout):
        out += cpu_table(checkout)
    arriving = results.get("checkout_arriving")
    if arriving:
        out += [
            "## Checkout with orders arriving at a given rate (open loop)",
            "",
            "Above, each connection sends its next order when its last is answered, so at N "
            "clients the mean latency is N ÷ throughput whatever the servers do. Here orders "
            "arrive as a Poisson process of the offered rate, as a peak hour's customers do, "
            "each on a connection of its own, timed from its arrival (`open_loop.py`).",
            "",
        ]
        out += table(
            ["offered/s", "orders/s", "p50 ms", "p90 ms", "p99 ms", "most in flight",
             "other errors", "load CPU %", "server CPU ms/order", "worker CPU ms/order",
             "release p95 ms", "drain s"],
            [[fmt(row["offered_per_s"]), fmt(row["orders_per_s"]), fmt(row["p50_ms"]),
              fmt(row["p90_ms"]), fmt(row["p99_ms"]), fmt(row["max_in_flight"]),
              fmt(row["errors_non_2xx"] + row["socket_errors"]),
              fmt(100 * row["wrk_cpu_share"]), fmt(row["server_cpu_ms_per_order"]),
              fmt(row["worker_cpu_ms_per_order"]), fmt(row.get("release_p95_ms")),
              fmt(row.get("drain_s"))] for row in arriving],
        )  # fmt: skip
    profile = results.get("profile") or {}
    if profile.get("summary"):
        flames = ", ".join(f"[{name}]({name})" for name in profile.get("flame_graphs", []))
        out += [
            f"A checkout load profiled: [{profile['summary']}]({profile['summary']})"
            + (f", flame graphs {flames}" if flames else "")
            + ".",
            "",
        ]
    hot = results.get("hot_sku")
    if hot:
        out += [
            "## Hot SKU (one SKU at one store, pickup)",
            "",
            "Spread: the same 1-unit pickup orders at the same store and concurrency, each of "
            "a random SKU of the chain, so that no two wait for one stock row.",
            "",
        ]
        out += table(
            ["clients", "orders/s", "raw hot row/s", "÷ raw", "spread/s", "÷ spread",
             "p50 ms", "p99 ms", "spread p99 ms", "orders placed", "units taken", "409",
             "other errors", "no oversell"],
            [[hot["clients"], fmt(hot["orders_per_s"]), fmt(hot["raw_hot_row_per_s"]),
              ratio(hot["orders_per_s"], hot["raw_hot_row_per_s"]),
              fmt(hot.get("spread_orders_per_s")),
              ratio(hot["orders_per_s"], hot.get("spread_orders_per_s")), fmt(hot["p50_ms"]),
              fmt(hot["p99_ms"]), fmt(hot.get("spread_p99_ms")),
              fmt(hot["orders_placed_in_db"]), fmt(hot["units_taken"]),
              fmt(hot["conflicts_409"]), fmt(hot["errors_non_2xx"]),
              "yes" if hot["no_oversell"] else "NO"]],
        )  # fmt: skip
    avail = results.get("availability")
    if avail:
        out += ["## Availability over HTTP (1 connection)", ""]
        out += table(
            ["query", "requests/s", "p50 ms", "p99 ms", "errors"],
            [[name.replace("_", " "), fmt(a["requests_per_s"]), fmt(a["p50_ms"]),
              fmt(a["p99_ms"]), fmt(a["errors_non_2xx"])] for name, a in avail.items()],
        )  # fmt: skip
    routing = results.get("routing")
    if routing:
        out += ["## Routing a 5-line ship order in process", ""]
        if "error" in routing:
            out += ["```", routing["error"], "```", ""]
        else:
            columns = [("locations_mean", 0), ("nearest_only_share", 2), ("candidates_mean", 0),
                       ("snapshot_ms_p50", 2), ("snapshot_ms_p99", 2), ("route_ms_p50", 2),
                       ("route_ms_p99", 2), ("total_ms_p99", 2),
                       ("decision_bytes_max", 1)]  # fmt: skip
            snapshots = [("checkout's (bounded)", ""), ("a re-route's (chain)", "whole_chain_")]
            rows = [
                [label, *(fmt(routing.get(prefix + key), digits) for key, digits in columns)]
                for label, prefix in snapshots
                if prefix + "snapshot_ms_p50" in routing
            ]
            out += table(
                ["snapshot", "locations considered", "nearest only", "candidates",
                 "snapshot p50 ms", "snapshot p99 ms", "route p50 ms", "route p99 ms",
                 "snapshot + route p99 ms", "decision bytes (max)"],
                rows,
            )  # fmt: skip
    scales = results.get("scales") or []
    if scales:
        rows = [
            [
                s["locations"],
                s["skus"],
                s["clients"],
                fmt(s["orders_per_s"]),
                " / ".join(fmt(rate) for rate in s.get("rounds_orders_per_s", [])),
                fmt(s["p99_ms"]),
                fmt(s["server_cpu_ms_per_order"]),
                fmt(s.get("worker_cpu_ms_per_order")),
                fmt(s.get("postgres_cpu_ms_per_order")),
                "yes" if s.get("verify_stock_ok", True) else "BREACH",
            ]
            for s in scales
        ]
        medians = [s["orders_per_s"] for s in scales]
        out += ["## The same order mix at other chain sizes", ""]
        out += [
            "Each chain in a database of its own; each round measures every scale in turn, on a "
            "stack of its own, warmed up first, as a level above. A scale's row is its median "
            "round (the machine's speed moves within minutes; the rounds meet the same moments).",
            "",
        ]
        out += table(
            ["locations", "SKUs", "clients", "orders/s (median)", "each round", "p99 ms",
             "server CPU ms/order", "worker CPU ms/order", "PostgreSQL CPU ms/order",
             "verify_stock clean"],
            rows,
        )  # fmt: skip
        out += [
            f"Slowest median ÷ fastest: {fmt(min(medians) / max(medians), 2)} "
            f"(within 15%: {'yes' if min(medians) >= 0.85 * max(medians) else 'no'}).",
            "",
        ]
    check = results.get("verify_stock")
    if check:
        out += [f"verify_stock: {'clean' if check['ok'] else 'BREACH: ' + check['output']}", ""]
    return "\n".join(out)


CPU_PARTS = [
    ("gunicorn", "server_cpu_ms_per_order"),
    ("worker", "worker_cpu_ms_per_order"),
    ("PostgreSQL", "postgres_cpu_ms_per_order"),
    ("exited PostgreSQL backends (any database)", "postgres_exited_cpu_ms_per_order"),
    ("Redis", "redis_cpu_ms_per_order"),
    ("wrk", "wrk_cpu_ms_per_order"),
]


def cpu_table(checkout: list[dict]) -> list[str]:
    """Each checkout level's CPU ms per order by process, and the machine's busy time."""
    rows = []
    for row in checkout:
        parts = [row.get(key) for _, key in CPU_PARTS]
        machine = row.get("machine_cpu_ms_per_order")
        rest = None if machine is None or None in parts else machine - sum(parts)
        rows.append([
            row["clients"], *(fmt(p) for p in parts), fmt(rest), fmt(machine),
            fmt(row.get("pg_new_sessions_per_order"), 2),
        ])  # fmt: skip
    return [
        "## Where the CPU of an order goes (ms per order, until the outbox drained)",
        "",
        *table(
            ["clients", *(name for name, _ in CPU_PARTS), "the rest", "machine busy",
             "new PostgreSQL sessions/order"],
            rows,
        ),
    ]  # fmt: skip


def draw(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    checkout = results.get("checkout", [])
    ceiling = results.get("ceiling", [])
    if checkout:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        clients = [r["clients"] for r in checkout]
        left.plot(clients, [r["orders_per_s"] for r in checkout], "o-", label="checkout (HTTP)")
        if ceiling:
            left.plot([r["clients"] for r in ceiling], [r["per_s"] for r in ceiling], "s--",
                      label="ceiling (pgbench)")  # fmt: skip
        left.set(xscale="log", yscale="log", xlabel="clients", ylabel="orders/s",
                 title="Throughput")  # fmt: skip
        left.legend()
        right.plot(clients, [r["p99_ms"] for r in checkout], "o-", label="checkout p99")
        right.plot(clients, [r["p50_ms"] for r in checkout], "o:", label="checkout p50")
        if ceiling:
            right.plot([r["clients"] for r in ceiling], [r["p99_ms"] for r in ceiling], "s--",
                       label="ceiling p99")  # fmt: skip
        right.set(xscale="log", yscale="log", xlabel="clients", ylabel="ms", title="Latency")
        right.legend()
        fig.tight_layout()
        fig.savefig(out / "checkout.png", dpi=100)
        plt.close(fig)
        made.append("checkout.png")
    scales = results.get("scales") or []
    if scales:
        points = [(s["locations"], s["skus"], s["server_cpu_ms_per_order"], s["orders_per_s"])
                  for s in scales]  # fmt: skip
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        for skus in sorted({p[1] for p in points}):
            mine = sorted(p for p in points if p[1] == skus)
            left.plot([p[0] for p in mine], [p[2] for p in mine], "o-", label=f"{skus} SKUs")
            right.plot([p[0] for p in mine], [p[3] for p in mine], "o-", label=f"{skus} SKUs")
        left.set(xscale="log", xlabel="locations", ylabel="server CPU ms per order",
                 title="Cost against scale")  # fmt: skip
        right.set(xscale="log", xlabel="locations", ylabel="orders/s", title="Throughput")
        left.legend()
        right.legend()
        fig.tight_layout()
        fig.savefig(out / "scale.png", dpi=100)
        plt.close(fig)
        made.append("scale.png")
    series = results.get("backlog_series")
    if series:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.plot([s[0] for s in series], [s[1] for s in series])
        ax.set(xlabel="seconds", ylabel="unprocessed outbox events", title="Outbox backlog")
        fig.tight_layout()
        fig.savefig(out / "backlog.png", dpi=100)
        plt.close(fig)
        made.append("backlog.png")
    return made
