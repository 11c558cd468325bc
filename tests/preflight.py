"""Before the suite: are PostgreSQL and Redis there? In CI a missing service fails the run."""

import os
import sys
from urllib.parse import urlparse

import psycopg
import redis

from tests.environment import apply_test_defaults


def main() -> int:
    apply_test_defaults()  # what pytest will use
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    problems = []
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        problems.append(f"DATABASE_URL must point at PostgreSQL, got {database_url!r}")
    else:
        parsed = urlparse(database_url)
        try:
            psycopg.connect(
                host=parsed.hostname, port=parsed.port or 5432, user=parsed.username,
                password=parsed.password, dbname="postgres", connect_timeout=3,
            ).close()  # fmt: skip
        except psycopg.Error as exc:
            problems.append(
                f"PostgreSQL at {parsed.hostname}:{parsed.port} is not reachable: {exc}"
            )
    redis_problem = None
    try:
        redis.Redis.from_url(os.environ.get("REDIS_URL", ""), socket_timeout=3).ping()
    except (redis.RedisError, ValueError) as exc:
        redis_problem = f"Redis at {os.environ.get('REDIS_URL')!r} is not reachable: {exc}"
    if redis_problem and in_ci:
        problems.append(redis_problem)
    elif redis_problem:
        sys.stderr.write(f"warning: {redis_problem}; worker tests will be skipped\n")
    for problem in problems:
        sys.stderr.write(f"error: {problem}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
