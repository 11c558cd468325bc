"""The processes `make bench` serves the app with: gunicorn and a Celery worker on Redis.

Every process is started in a session of its own and stopped by its pid (its process group:
the gunicorn master's workers, the Celery pool), on success, error or Ctrl-C alike.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import BASE_DIR

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Every pid a Stack started in this process (results.json lists them; the smoke test checks
# that none outlives the run).
STARTED: list[int] = []


def free_port(preferred: int = 0) -> int:
    """`preferred` when it is free on 127.0.0.1 (0: any free port)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and every live descendant, in seconds."""
    total = 0.0
    for one in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def descendants(pid: int) -> list[int]:
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


class Stack:
    """Started processes, stopped in reverse order by `stop()` (idempotent)."""

    def __init__(self, *, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(
        self, name: str, command: list[str], *, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("a")
        proc = subprocess.Popen(  # noqa: S603 - our own commands
            command,
            cwd=BASE_DIR,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append((name, proc))
        STARTED.append(proc.pid)
        return proc

    def pid(self, name: str) -> int:
        return next(proc.pid for n, proc in self.procs if n == name)

    def gunicorn(self, *, port: int, workers: int) -> subprocess.Popen:
        """gunicorn as production runs it (config/gunicorn.py: the metrics of every worker
        added up, in a directory of the run's own), on 127.0.0.1:`port`."""
        metrics = Path(self.env["OMNISTOCK_VAR_DIR"]) / "metrics" / "web"
        proc = self.start(
            "gunicorn",
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "config.wsgi",
                "-c", str(BASE_DIR / "config" / "gunicorn.py"),
                "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers),
                "--access-logfile", "-" if self.env.get("BENCH_ACCESS_LOG") else "/dev/null",
                "--graceful-timeout", "5",
                "--timeout", "60",
            ],
            env={"PROMETHEUS_MULTIPROC_DIR": str(metrics)},
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc, log=self.log_dir / "gunicorn.log")
        return proc

    def celery_worker(self, *, concurrency: int, name: str) -> subprocess.Popen:
        # No -Q: a worker consumes both queues of its CELERY_TASK_DEFAULT_QUEUE (orders and
        # notifications, config/celery.py).
        proc = self.start(
            "celery",
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                "-l", "WARNING", "-c", str(concurrency), "-n", name,
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
        )  # fmt: skip
        self._wait_worker(name, proc)
        return proc

    def _wait_worker(self, name: str, proc: subprocess.Popen) -> None:
        log = self.log_dir / "celery.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{log.read_text()[-3000:]}")
            if "ready" in log.read_text() or _celery_ping(self.env, name):
                return
            time.sleep(0.5)
        raise RuntimeError(f"celery worker did not start:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        while self.procs:
            name, proc = self.procs.pop()
            stop_process(proc, name=name)


def _celery_ping(env: dict[str, str], name: str) -> bool:
    result = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "celery", "-A", "config", "inspect", "ping", "-d", name, "-t", "1"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def stop_process(proc: subprocess.Popen, *, name: str, grace: float = 15) -> None:
    """SIGTERM the process group `proc` leads; SIGKILL what is left after `grace` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            print(f"{name} (pid {proc.pid}) did not stop in {grace:.0f} s: killed", flush=True)
    # Children that outlived their leader (a pool process) are in its group still.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_http(url: str, *, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1
                if response.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
