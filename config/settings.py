"""One settings module, driven by environment variables.

With nothing set it runs the embedded default: a SQLite file under var/, Celery tasks
executed in process, email printed to the console. DATABASE_URL, REDIS_URL,
DJANGO_SECRET_KEY, DJANGO_DEBUG and ALLOWED_HOSTS switch it to production.
"""

import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("OMNISTOCK_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, *, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")

# Production unless told otherwise, as soon as a real database is configured.
DEBUG = env_bool("DJANGO_DEBUG", default=not DATABASE_URL)
EMBEDDED = not DATABASE_URL

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (production mode)."
        )
    SECRET_KEY = "embedded-development-key-not-for-production-use-0123456789abcdef"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "common.admin_site.OmnistockAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "axes",
    "common",
    "stores",
    "inventory",
    "customers",
    "payments",
    "orders",
    "fulfillment",
    "returns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "common.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]
# --- Observability ----------------------------------------------------------------------
# Outermost: every request has its id, and is timed, whatever answers it.
MIDDLEWARE[:0] = ["common.middleware.RequestIdMiddleware", "common.metrics.MetricsMiddleware"]
# GET /metrics answers a scraper sending `Authorization: Bearer <METRICS_TOKEN>` (and staff
# signed in to the admin); with no token set only staff can read it.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# A Celery worker serves its pool's counters on this port (0: it does not), same token.
METRICS_PORT = int(os.environ.get("METRICS_PORT", "0"))
METRICS_ADDRESS = os.environ.get("METRICS_ADDRESS", "0.0.0.0")  # noqa: S104 - a container's port

# Seconds a client is asked to wait (Retry-After) when the database is unreachable (503).
DATABASE_UNAVAILABLE_RETRY_AFTER = int(os.environ.get("DJANGO_DB_UNAVAILABLE_RETRY_AFTER", "5"))
# A service aborted by a deadlock or a serialization failure runs again, this many times in
# all, waiting DB_CONFLICT_BACKOFF seconds (doubled each time, jittered) in between.
DB_CONFLICT_ATTEMPTS = int(os.environ.get("DJANGO_DB_CONFLICT_ATTEMPTS", "3"))
DB_CONFLICT_BACKOFF = float(os.environ.get("DJANGO_DB_CONFLICT_BACKOFF", "0.05"))

ROOT_URLCONF = "config.urls"
# The largest request body accepted (an API answers 413 above it): a checkout of hundreds of
# lines or a batch of a thousand stock movements is well under 1 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DJANGO_MAX_REQUEST_BYTES", 1024 * 1024))
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60"))
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's, with JSON values encoded by orjson (see common/postgresql/base.py).
        DATABASES["default"]["ENGINE"] = "common.postgresql"
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "omnistock.sqlite3",
            # Writers queue instead of failing at once with "database is locked".
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

# Behind a pooler that hands each transaction to any server connection (PgBouncer's
# `pool_mode = transaction`), nothing may rely on the session: no server-side cursors (they
# live past a transaction) and no prepared statements (psycopg prepares on the connection).
DATABASE_POOL_MODE = os.environ.get("DATABASE_POOL_MODE", "session")
if DATABASE_POOL_MODE not in {"session", "transaction"}:
    raise ImproperlyConfigured("DATABASE_POOL_MODE is session (the default) or transaction")
if DATABASE_POOL_MODE == "transaction" and DATABASE_URL:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
# Values travel apart from the SQL text (psycopg's extended protocol) instead of being quoted
# into it in Python: less CPU in the web process, and in session mode a statement run five
# times on a connection is prepared, so PostgreSQL no longer parses it per order. Behind
# PgBouncer in transaction mode DATABASE_POOL_MODE=transaction keeps statements unprepared.
# DB_SERVER_SIDE_BINDING=0 goes back to Django's default (values quoted in Python).
if DATABASE_URL and env_bool("DB_SERVER_SIDE_BINDING", default=True):
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
    # psycopg's own default, which Django turns off for the sake of poolers.
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if EMBEDDED:
    # The covering stock index is a PostgreSQL optimisation; SQLite just keeps the key columns.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed names need `collectstatic` first (the Docker image runs it); tests skip it.
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG and env_bool("DJANGO_STATIC_MANIFEST", default=True)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Mail: EMAIL_URL (smtp://user:password@host:587 for STARTTLS, smtps://...:465 for SSL) or
# EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL.
# With no mail server named, messages are printed to the console and `check` warns.
_email_url = urlsplit(os.environ.get("EMAIL_URL", ""))
EMAIL_HOST = os.environ.get("EMAIL_HOST", _email_url.hostname or "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", _email_url.port or 587))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", unquote(_email_url.username or ""))
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", unquote(_email_url.password or ""))
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=_email_url.scheme == "smtps")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=not EMAIL_USE_SSL)
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
# The folder of Django's file backend (EMAIL_BACKEND=django.core.mail.backends.filebased...).
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "orders@omnistock.local")
# A hanging mail server must not hold a worker for minutes: the outbox retries later.
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
# Customers known only by phone are texted: a provider's backend class (common/notifications.py).
SMS_BACKEND = os.environ.get("SMS_BACKEND", "common.notifications.ConsoleSmsBackend")
SMS_SENDER = os.environ.get("SMS_SENDER", "Omnistock")


def _redis_cache_url(broker_url: str) -> str:
    """The broker's Redis server, the database after the broker's: a cache is flushed by
    `cache.clear()`, which must never take the queued tasks with it."""
    parts = urlsplit(broker_url)
    database = int(parts.path.strip("/") or 0)
    return parts._replace(path=f"/{(database + 1) % 16}").geturl()


# Throttles and rate limits: in Redis (REDIS_CACHE_URL, by default the broker's server, next
# database) when there is a broker, so every gunicorn worker and host counts the same
# requests (while Redis is unreachable nothing is counted); DJANGO_CACHE=locmem keeps them in
# each process (the embedded default, tests).
DJANGO_CACHE = os.environ.get("DJANGO_CACHE", "redis" if REDIS_URL else "locmem")
if DJANGO_CACHE == "redis":
    CACHES = {
        "default": {
            # Django's RedisCache; an unreachable Redis reads as a miss (common/cache.py).
            "BACKEND": "common.cache.ForgivingRedisCache",
            "LOCATION": os.environ.get("REDIS_CACHE_URL", "") or _redis_cache_url(REDIS_URL),
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "omnistock"),
            # A Redis that stops answering costs a request at most this long, not a hang.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Orders ---------------------------------------------------------------------------
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "CN")
OMS_SHIPPING_FEE = os.environ.get("OMS_SHIPPING_FEE", "15.00")
OMS_FREE_SHIPPING_FROM = os.environ.get("OMS_FREE_SHIPPING_FROM", "299.00")
OMS_MAX_LINE_QUANTITY = int(os.environ.get("OMS_MAX_LINE_QUANTITY", "99"))
OMS_MAX_LINES = int(os.environ.get("OMS_MAX_LINES", "100"))
# Prefer warehouses (or "store") when a ship order could come from either.
OMS_SHIP_PREFERENCE = os.environ.get("OMS_SHIP_PREFERENCE", "warehouse")
# A cycle count taken longer ago than this is refused (its replay would be guesswork).
OMS_CYCLE_COUNT_MAX_AGE_DAYS = int(os.environ.get("OMS_CYCLE_COUNT_MAX_AGE_DAYS", "7"))
# A fulfilled order takes returns this long, then it is closed.
OMS_RETURN_WINDOW_DAYS = int(os.environ.get("OMS_RETURN_WINDOW_DAYS", "30"))

# --- Returns --------------------------------------------------------------------------
# Why a customer returns something: codes a till offers (free text goes with them).
OMS_RETURN_REASONS = env_list(
    "OMS_RETURN_REASONS",
    "too_small,too_large,not_as_described,damaged,defective,changed_mind,other",
)
# A restocking fee per reason, as a percentage of what the unit paid ({"changed_mind": "10"}).
OMS_RETURN_RESTOCKING_FEE_PERCENT = json.loads(
    os.environ.get("OMS_RETURN_RESTOCKING_FEE_PERCENT", "{}")
)
# A whole-order return of a shipped order refunds its shipping too.
OMS_RETURN_REFUNDS_SHIPPING = os.environ.get("OMS_RETURN_REFUNDS_SHIPPING", "1") == "1"
# When the money goes back: at "inspection" (the default) or at "receipt".
OMS_RETURN_REFUND_ON = os.environ.get("OMS_RETURN_REFUND_ON", "inspection")
# Wrong return codes typed for one return before its code is refused (429) for the lock time.
OMS_RETURN_CODE_MAX_FAILURES = int(os.environ.get("OMS_RETURN_CODE_MAX_FAILURES", "5"))
OMS_RETURN_CODE_LOCK_MINUTES = int(os.environ.get("OMS_RETURN_CODE_LOCK_MINUTES", "15"))
# How long an Idempotency-Key is remembered (at least 24 hours).
OMS_IDEMPOTENCY_TTL_HOURS = int(os.environ.get("OMS_IDEMPOTENCY_TTL_HOURS", "48"))

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "common.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Safe default; every view still declares its own permission explicitly.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "common.schema.ErrorDocumentingAutoSchema",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    # Rates per API client (per client address for failed token logins), counted in CACHES:
    # shared by every server process when there is a Redis, and never an error when it is
    # down (the request is then not counted).
    "DEFAULT_THROTTLE_RATES": {
        "checkout": os.environ.get("DJANGO_THROTTLE_CHECKOUT", "6000/min"),
        "returns": os.environ.get("DJANGO_THROTTLE_RETURNS", "600/min"),
        "customer_lookup": os.environ.get("DJANGO_THROTTLE_CUSTOMER_LOOKUP", "600/min"),
        "token_failure": os.environ.get("DJANGO_THROTTLE_TOKEN_FAILURE", "30/min"),
        # Return codes looked up (GET /returns?code=) that find no return, per API client.
        "return_code_miss": os.environ.get("DJANGO_THROTTLE_RETURN_CODE_MISSES", "30/hour"),
    },
    "DEFAULT_RENDERER_CLASSES": ["common.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Omnistock OMS API",
    "DESCRIPTION": "Unified order management: one stock pool for web, app and stores.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI and Redoc from the app's own static files: the docs work with no CDN reachable.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "DeliveryMethodEnum": "orders.models.ORDER_DELIVERY_METHODS",
        "ChannelEnum": "common.models.Channel",
        "OrderStatusEnum": "orders.models.Order.Status",
        "FulfillmentStatusEnum": "fulfillment.models.FulfillmentOrder.Status",
        "FulfillmentKindEnum": "fulfillment.models.FULFILLMENT_KIND_CHOICES",
        "LocationKindEnum": "stores.models.Location.Kind",
    },
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
# Without a broker the embedded default runs every task in process, after commit.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless
# this is set, so each task would pay a new PostgreSQL session (a backend forked, Django's
# connection set up) for a few milliseconds of work. Kept instead, and replaced only when
# it errored, outlived CONN_MAX_AGE or was ended by the server (config/celery.py checks
# before each task), as a web process keeps its connection across requests.
CELERY_DB_REUSE_MAX = int(os.environ.get("CELERY_DB_REUSE_MAX", "100000"))
# Queues (config/celery.py): `<prefix>orders`, the default, and `<prefix>notifications`.
CELERY_QUEUE_PREFIX = os.environ.get("CELERY_QUEUE_PREFIX", "")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get(
    "CELERY_TASK_DEFAULT_QUEUE", CELERY_QUEUE_PREFIX + "orders"
)
CELERY_TASK_ROUTES = ("config.celery.route_task",)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "common.tasks.outbox_sweep", "schedule": timedelta(seconds=30)},
    "expire-pickups": {
        "task": "fulfillment.tasks.expire_pickups",
        "schedule": timedelta(minutes=5),
    },
    "escalate-unaccepted": {
        "task": "fulfillment.tasks.escalate_unaccepted",
        "schedule": timedelta(minutes=1),
    },
    "refresh-rejection-rates": {
        "task": "fulfillment.tasks.refresh_rejection_rates",
        "schedule": timedelta(hours=24),
    },
    "close-fulfilled-orders": {
        "task": "orders.tasks.close_fulfilled_orders",
        "schedule": timedelta(hours=1),
    },
    "expire-points": {"task": "customers.tasks.expire_points", "schedule": timedelta(hours=1)},
    "notify-expiring-points": {
        "task": "customers.tasks.notify_expiring_points",
        "schedule": timedelta(hours=24),
    },
    "purge-idempotency-keys": {
        "task": "common.tasks.purge_idempotency_keys",
        "schedule": timedelta(hours=1),
    },
}

# An outbox row still unprocessed this long after it was written is re-queued (twice as
# long after each failed attempt); after OUTBOX_MAX_ATTEMPTS failures it is left for a person.
OUTBOX_REDELIVER_AFTER = timedelta(seconds=int(os.environ.get("OUTBOX_REDELIVER_AFTER", "60")))
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "10"))
# Seconds a new delivery waits before it starts, so the events published meanwhile (the next
# orders' releases) go in its batch: a worker then pays one task and one transaction for
# several orders even when no backlog has formed. 0 starts each at once.
OUTBOX_BATCH_LINGER = float(os.environ.get("OUTBOX_BATCH_LINGER", "0.2"))

# --- Payments ---------------------------------------------------------------------------
# The gateways a payment may name (its `gateway`), each a `payments.gateways.base.Gateway`.
PAYMENTS_GATEWAYS = {"dummy": "payments.gateways.dummy.DummyGateway"}
# Tries at a gateway that cannot be reached before a capture, void or refund ends `failed`
# (retried with the outbox's backoff; at most OUTBOX_MAX_ATTEMPTS).
PAYMENTS_GATEWAY_MAX_ATTEMPTS = min(
    OUTBOX_MAX_ATTEMPTS, int(os.environ.get("PAYMENTS_GATEWAY_MAX_ATTEMPTS", "5"))
)

# --- Loyalty points -----------------------------------------------------------------------
# Points earned per currency unit of paid value (after discounts and points), and what one
# point is worth when it pays (a points tender). Both in the orders' currency.
LOYALTY_EARN_RATE = os.environ.get("LOYALTY_EARN_RATE", "1")
LOYALTY_POINT_VALUE = os.environ.get("LOYALTY_POINT_VALUE", "0.01")
# Earned points are spendable this many days; the customer is told this many days before.
LOYALTY_POINTS_VALID_DAYS = int(os.environ.get("LOYALTY_POINTS_VALID_DAYS", "365"))
LOYALTY_EXPIRY_NOTICE_DAYS = int(os.environ.get("LOYALTY_EXPIRY_NOTICE_DAYS", "14"))
# Tiers by trailing 12-month paid spend net of returns: (name, from, earn multiplier).
LOYALTY_TIERS = [("member", "0", "1"), ("silver", "2000", "1.25"), ("gold", "8000", "1.5")]

# --- Security (production) -----------------------------------------------------------
if not DEBUG:
    # A request is HTTPS when the TLS-terminating proxy says so in this header (it must set or
    # strip it on every request); empty when the app is reached without such a proxy.
    _proxy_header = os.environ.get("DJANGO_PROXY_SSL_HEADER", "X-Forwarded-Proto").strip()
    if _proxy_header:
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Client addresses behind a proxy ------------------------------------------------
# A proxy in front appends the client's address to X-Forwarded-For; the address counted by
# the API throttles and the admin lockout is the one DJANGO_PROXY_COUNT proxies from the
# right. 0 (the default, as when the app is reached directly) counts the connection's own
# address, REMOTE_ADDR: a client reaching the app directly could otherwise name any address.
TRUSTED_PROXY_COUNT = int(os.environ.get("DJANGO_PROXY_COUNT", "0"))
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT

# --- Admin login lockout (django-axes) ------------------------------------------------
# After AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is
# refused (even with the right password) for the cool-off; other users at that address, and
# that user from elsewhere, still log in, so an attacker cannot lock the staff out. Attempts
# live in the database (shared by every server process). A success clears the count.
# Unlock early: `manage.py axes_reset_username USER` (or the admin's Access attempts).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before any check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("DJANGO_LOGIN_LOCKOUT", default=True)
AXES_FAILURE_LIMIT = int(os.environ.get("DJANGO_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("DJANGO_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "common.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "common.login_lockout.login_locked"

# LOG_FORMAT=json (the production default): one JSON object per line with time, level,
# logger, message, request_id and order (common/logging.py); "plain" for people reading.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "common.logging.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(order)s] %(message)s"
        },
        "json": {"()": "common.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
