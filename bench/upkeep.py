"""What autovacuum does for the bench database when the server runs without it.

A bench database starts with empty order tables and fills them by the thousand within a
minute. The app's statements are prepared on each connection, and PostgreSQL keeps the
generic plan it made after their first runs, when those tables held a few rows: a read of
one order by its index is then a sequential scan for good, dearer with every order placed.
With autovacuum on (PostgreSQL's default, and any production server) the tables are
analyzed as they grow, which makes those plans again. With it off (as on a CI machine)
nothing does, and over a minute of load PostgreSQL's CPU per order doubled. `Upkeep`
stands in for autovacuum's launcher on such a server: every `nap` seconds it analyzes, and
vacuums, each table past autovacuum's own default thresholds, on a connection of its own.
On a server with autovacuum on it does nothing.
"""

import threading
from dataclasses import dataclass

import harness
from harness import BenchDatabase
from psycopg import sql

# PostgreSQL's defaults (autovacuum_*_threshold and *_scale_factor).
ANALYZE_THRESHOLD, ANALYZE_SCALE = 50, 0.1
VACUUM_THRESHOLD, VACUUM_SCALE = 50, 0.2
INSERT_THRESHOLD, INSERT_SCALE = 1000, 0.2

# Each table past a threshold, and whether it is due a vacuum too.
DUE = """
SELECT schemaname, relname, to_vacuum FROM (
    SELECT s.schemaname, s.relname,
           s.n_mod_since_analyze > %(at)s + %(as)s * greatest(c.reltuples, 0) AS to_analyze,
           s.n_dead_tup > %(vt)s + %(vs)s * greatest(c.reltuples, 0)
               OR s.n_ins_since_vacuum > %(it)s + %(is)s * greatest(c.reltuples, 0) AS to_vacuum
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
) due
WHERE to_analyze OR to_vacuum
ORDER BY relname"""


@dataclass
class Done:
    """How many times a table was analyzed, and how many of those were vacuumed too."""

    analyzed: int = 0
    vacuumed: int = 0


class Upkeep:
    """While entered: every `nap` seconds, ANALYZE (or VACUUM ANALYZE) the tables that
    autovacuum would have, unless the server runs autovacuum itself."""

    def __init__(self, db: BenchDatabase, *, nap: float = 1.0):
        self.db, self.nap = db, nap
        self.done = Done()
        self.needed = harness.postgres_settings(db, ["autovacuum"])["autovacuum"] == "off"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        if self.needed:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        limits = {
            "at": ANALYZE_THRESHOLD, "as": ANALYZE_SCALE, "vt": VACUUM_THRESHOLD,
            "vs": VACUUM_SCALE, "it": INSERT_THRESHOLD, "is": INSERT_SCALE,
        }  # fmt: skip
        with self.db.connect(autocommit=True) as conn:
            # Paced as autovacuum's workers are (its cost delay and limit, PostgreSQL's
            # defaults), not at full speed beside the load.
            conn.execute("SET vacuum_cost_delay = '2ms'")
            conn.execute("SET vacuum_cost_limit = 200")
            while not self._stop.wait(self.nap):
                for schema, table, vacuum in conn.execute(DUE, limits).fetchall():
                    name = sql.Identifier(schema, table)
                    what = "VACUUM (ANALYZE) {}" if vacuum else "ANALYZE {}"
                    conn.execute(sql.SQL(what).format(name))
                    self.done.vacuumed += bool(vacuum)
                    self.done.analyzed += 1
