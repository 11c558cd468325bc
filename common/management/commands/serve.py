"""Serve the app; with a broker configured, also run a Celery worker and beat.

In production (DJANGO_DEBUG off) the web server is gunicorn, WEB_CONCURRENCY workers (3 by
default) bound to --host and --port (PORT); the embedded default keeps Django's development
server. Everything started here stops on Ctrl-C or SIGTERM. Without a broker (the embedded
default) tasks run in process and this command runs the periodic tasks itself.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from celery import current_app as celery_app
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the app (and a Celery worker and beat when REDIS_URL is set)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))

    def handle(self, *args, host: str, port: str, **options):
        if not settings.DEBUG:
            # Without DEBUG the pages name their static files by the collected manifest: a
            # page rendered before `collectstatic` ran is a 500, the admin login first.
            call_command("collectstatic", interactive=False, verbosity=0)
        manage = str(settings.BASE_DIR / "manage.py")
        if settings.DEBUG:
            web = [sys.executable, manage, "runserver", f"{host}:{port}", "--noreload"]
        else:
            workers = os.environ.get("WEB_CONCURRENCY", "3")
            web = [sys.executable, "-m", "gunicorn", "config.wsgi:application",
                   "-c", str(settings.BASE_DIR / "config" / "gunicorn.py"),
                   "--bind", f"{host}:{port}", "--workers", workers,
                   "--access-logfile", "-"]  # fmt: skip
        children = [("web", subprocess.Popen(web, cwd=settings.BASE_DIR))]
        embedded = settings.CELERY_TASK_ALWAYS_EAGER
        if not embedded:
            celery = [sys.executable, "-m", "celery", "-A", "config"]
            # The worker consumes both queues (orders, notifications); its pool's metrics
            # add up in a directory of its own (served on METRICS_PORT when set).
            worker_env = {
                **os.environ,
                "PROMETHEUS_MULTIPROC_DIR": str(Path(settings.VAR_DIR) / "metrics" / "worker"),
            }
            children.append(
                ("worker", subprocess.Popen([*celery, "worker", "-l", "info"], env=worker_env))
            )
            children.append(
                ("beat", subprocess.Popen([*celery, "beat", "-l", "info",
                                           "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME]))
            )  # fmt: skip

        base = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS("\nOmnistock OMS is starting:\n")
            + f"  admin         {base}/admin/\n"
            + f"  API docs      {base}/api/docs/\n"
            + f"  API           {base}/api/v1/\n"
            + f"  health check  {base}/healthz\n"
            + ("  web server    development\n" if settings.DEBUG else "  web server    gunicorn\n")
            + ("  tasks         in process\n" if embedded else "  tasks         worker + beat\n")
            + "Press Ctrl-C to stop.\n"
        )

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        schedule = self._schedule() if embedded else []
        try:
            while not stopping and all(proc.poll() is None for _, proc in children):
                if embedded:
                    self._run_due(schedule)
                time.sleep(0.5)
        finally:
            for _, proc in children:
                if proc.poll() is None:
                    proc.terminate()
            for name, proc in children:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"{name} did not stop in time; killing it")
                    proc.kill()
        failed = [name for name, proc in children if proc.returncode not in (0, -15, None)]
        if failed and not stopping:
            self.stderr.write(f"stopped because {', '.join(failed)} exited")
            sys.exit(1)

    def _schedule(self) -> list[dict]:
        celery_app.loader.import_default_modules()
        now = time.monotonic()
        entries = []
        for entry in settings.CELERY_BEAT_SCHEDULE.values():
            every = entry["schedule"]
            seconds = every.total_seconds() if isinstance(every, timedelta) else float(every)
            entries.append({"task": entry["task"], "every": seconds, "due": now + seconds})
        return entries

    def _run_due(self, schedule: list[dict]) -> None:
        now = time.monotonic()
        for entry in schedule:
            if now >= entry["due"]:
                entry["due"] = now + entry["every"]
                celery_app.tasks[entry["task"]].apply()
