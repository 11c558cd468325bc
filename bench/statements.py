"""PostgreSQL's own time per statement during a profiled load, from the server's log.

`log_min_duration_statement = 0` is set on the bench database only (a throw-away one), so
every statement of the app's sessions opened after it is logged with its duration; the part
of the log written during the load is read back, the harness's own sessions left out, and
the statements grouped by their text with the literals taken out.
"""

import os
import re
from collections import defaultdict
from pathlib import Path

import harness
import psycopg
from harness import BenchDatabase
from psycopg import sql

# One logged statement: its duration, then what ran (a simple-protocol `statement`, or the
# `parse`, `bind` and `execute` steps of the extended protocol, each with its own duration).
DURATION = re.compile(
    r"LOG:  duration: (?P<ms>[0-9.]+) ms  (?P<step>statement|parse|bind|execute)[^:]*: (?P<sql>.*)"
)
LITERALS = [
    (re.compile(r"(?:\bE)?'(?:[^']|'')*'"), "?"),
    (re.compile(r"\$\d+"), "?"),
    (re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", re.IGNORECASE), "?"),
    (re.compile(r"\b(?:NULL|TRUE|FALSE|DEFAULT)\b"), "?"),
    (re.compile(r"\?::[\w\s\[\]]+?(?=[,)\s]|$)"), "?"),
    (re.compile(r'"s\d+_x\d+"'), '"s?_x?"'),  # Django's savepoint names
    (re.compile(r"ARRAY\[[^\]]*\]"), "ARRAY[...]"),
    (re.compile(r"\(\?(?:, \?)*\)"), "(...)"),
    (re.compile(r"\(\.\.\.\)(?:, \(\.\.\.\))+"), "(...), ..."),
]


def normalise(text: str) -> str:
    """The statement with its literals as `?` and its lists and rows of values folded."""
    text = " ".join(text.split())
    for pattern, replacement in LITERALS:
        text = pattern.sub(replacement, text)
    return text


class StatementLog:
    """The server log of the bench database's statements: `enable()`, `start()` before the
    load, `read()` after it, `disable()` in any case. `note` says why there is nothing."""

    def __init__(self, db: BenchDatabase):
        self.db = db
        self.path: Path | None = None
        self.offset = 0
        self.prefix: re.Pattern | None = None
        self.note = ""
        self.enabled = False

    def enable(self) -> None:
        try:
            self._enable()
        except psycopg.Error as exc:
            self.path, self.note = None, f"the statement log could not be switched on: {exc}"

    def _enable(self) -> None:
        with self.db.connect(dbname="postgres", autocommit=True) as conn:
            settings = {
                name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
                for name in ("log_destination", "logging_collector", "log_line_prefix")
            }
            self.path, self.note = _log_file(conn, settings)
            if self.path is None:
                return
            self.prefix = _prefix_pattern(settings["log_line_prefix"], self.db.name)
            if self.prefix is None:
                self.path, self.note = None, "log_line_prefix does not name the database (%d)"
                return
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET log_min_duration_statement = 0").format(
                    sql.Identifier(self.db.name)
                )
            )
            self.enabled = True

    def disable(self) -> None:
        if not self.enabled:
            return
        with self.db.connect(dbname="postgres", autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} RESET log_min_duration_statement").format(
                    sql.Identifier(self.db.name)
                )
            )
        self.enabled = False

    def start(self) -> None:
        if self.path is not None:
            self.offset = self.path.stat().st_size

    def read(self, *, orders: int) -> list[dict]:
        """The statements logged since `start()`, most total time first: normalised text,
        calls and ms per order, mean ms per call."""
        if self.path is None or self.prefix is None:
            return []
        if self.path.stat().st_size < self.offset:
            self.note = f"{self.path} was rotated during the load"
            return []
        own = {str(pid) for pid in harness.OWN_BACKENDS}
        calls: dict[str, int] = defaultdict(int)
        total_ms: dict[str, float] = defaultdict(float)
        with self.path.open("rb") as log:
            log.seek(self.offset)
            entries = _entries(log, self.prefix, own)
            for step, ms, text in entries:
                key = normalise(text)
                total_ms[key] += ms
                if step in ("statement", "execute"):
                    calls[key] += 1
        if not total_ms:
            self.note = f"no statement of {self.db.name} in {self.path} during the load"
        orders = max(orders, 1)
        rows = [
            {
                "statement": key,
                "calls_per_order": calls[key] / orders,
                "ms_per_order": total_ms[key] / orders,
                "mean_ms": total_ms[key] / max(calls[key], 1),
            }
            for key in total_ms
        ]
        return sorted(rows, key=lambda row: row["ms_per_order"], reverse=True)


def _log_file(conn, settings: dict[str, str]) -> tuple[Path | None, str]:
    """The file the server writes its stderr log to, readable by us; else None and why."""
    if "stderr" not in settings["log_destination"]:
        return None, f"log_destination is {settings['log_destination']}, not stderr"
    if settings["logging_collector"] == "on":
        current = conn.execute("SELECT pg_current_logfile('stderr')").fetchone()[0]
        if current is None:
            return None, "the logging collector names no stderr log file"
        data_directory = conn.execute("SHOW data_directory").fetchone()[0]
        path = Path(data_directory) / current
    else:
        # Without the collector the postmaster's own stderr is the log (Debian points it at
        # /var/log/postgresql/); its parent is the postmaster of the backend asking.
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            postmaster = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1]
            path = Path(os.readlink(f"/proc/{postmaster}/fd/2"))
        except OSError:
            return None, "the server's stderr is not readable from here (another machine?)"
    if not path.is_file() or not os.access(path, os.R_OK):
        return None, f"the server log {path} is not a file this user can read"
    return path, ""


def _prefix_pattern(prefix: str, database: str) -> re.Pattern | None:
    """log_line_prefix as a pattern that matches the lines of `database` only, capturing the
    pid when it has one (None when the prefix does not name the database)."""
    if "%d" not in prefix:
        return None
    parts = []
    for literal, escape in re.findall(r"([^%]*)(%.?)?", prefix):
        parts.append(re.escape(literal))
        if escape == "%d":
            parts.append(re.escape(database))
        elif escape == "%p":
            parts.append(r"(?P<pid>\d+)")
        elif escape == "%%":
            parts.append("%")
        elif escape and escape != "%q":
            parts.append(r".*?")
    return re.compile("".join(parts))


def _entries(log, prefix: re.Pattern, own: set[str]):
    """(step, ms, statement text) of each logged duration line of the app's sessions; the
    text goes on over the tab-indented lines that follow."""
    current = None
    for raw in log:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if line.startswith("\t"):
            if current is not None:
                current[2] += " " + line.lstrip("\t")
            continue
        if current is not None:
            yield current
            current = None
        head = prefix.match(line)
        if head is None or head.groupdict().get("pid") in own:
            continue
        found = DURATION.match(line, head.end())
        if found:
            current = [found["step"], float(found["ms"]), found["sql"]]
    if current is not None:
        yield current
