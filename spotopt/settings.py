"""Settings for spotopt, read from the environment (django-environ).

Every variable is documented in README.md ("Configuration"). Defaults give a zero-setup development run:
SQLite in ./var, the ORM task broker, console email. Production sets DEBUG=false and must then provide
SECRET_KEY and CREDENTIALS_ENCRYPTION_KEYS, or the process refuses to start.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# Writable state of a zero-setup run: the SQLite file and uploaded files.
VAR_DIR = Path(env.str("SPOTOPT_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)

# A fixed key is only acceptable for a developer machine: with DEBUG off we refuse to start without one.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    # The admin for super_admins only, with the platform's setup checks on its index (spotopt.admin_site).
    "spotopt.admin_site.SpotoptAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "rest_framework_simplejwt.token_blacklist",
    "spotopt",
    "accounts",
    "fleet",
    "mlgov",
    "waste",
    "risk",
    "approvals",
    "sla",
    "kube",
    "savings",
    "ops",
    "replay",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # API bodies over the size limit get a JSON 413 before anything reads them.
    "spotopt.api.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "spotopt.urls"

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
                "accounts.context_processors.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "spotopt.wsgi.application"

# --- Database -----------------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'spotopt.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The zero-setup database serves the web server and the task workers at once: readers never wait
    # for the writer (WAL), a writer waits its turn instead of failing ("database is locked"), and a
    # transaction that writes takes the write lock when it starts (IMMEDIATE), so it cannot deadlock
    # by upgrading a read lock halfway.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=30),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Users and passwords ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# bcrypt first; Django's BCryptSHA256PasswordHasher uses 12 rounds. The others only verify old hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# django-axes first: it refuses a locked-out username or IP before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Failed sign-in throttling (django-axes) ----------------------------------------------------------
# The Nth failure within the window locks further tries for that username, and separately for that IP.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.auth.lockout_response"
AXES_VERBOSE = False
# Behind a proxy, the client address is the left-most X-Forwarded-For entry added by N trusted proxies.
AXES_IPWARE_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if env.int("TRUSTED_PROXY_COUNT", default=0) else ["REMOTE_ADDR"]
)

# --- Internationalisation -----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Uploads (ML models) are bounded; larger bodies are refused before they reach a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security (production values apply whenever DEBUG is off) -----------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the dashboards' fetch() calls read the token from the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    # Only a plain-HTTP run on 127.0.0.1 (the demo) turns these off.
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    if env.bool("SECURE_PROXY_SSL_HEADER", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Credential encryption ----------------------------------------------------------------------------
# "kid:base64key,kid:base64key" (32-byte AES-256 keys); the first one encrypts, all of them decrypt.
_DEV_ENCRYPTION_KEYS = "dev1:ZGV2LW9ubHktaW5zZWN1cmUta2V5LTAxMjM0NTY3ODk="
CREDENTIALS_ENCRYPTION_KEYS = env.list("CREDENTIALS_ENCRYPTION_KEYS", default=[_DEV_ENCRYPTION_KEYS] if DEBUG else [])
if not CREDENTIALS_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("CREDENTIALS_ENCRYPTION_KEYS must be set when DEBUG is off.")

# --- Email --------------------------------------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(_email)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="spotopt <noreply@spotopt.local>")

# --- AWS ----------------------------------------------------------------------------------------------
# Passed through to boto3 (moto in the demo and tests; unset for real AWS).
AWS_ENDPOINT_URL = env.str("AWS_ENDPOINT_URL", default="") or None
AWS_DEFAULT_REGION = env.str("AWS_DEFAULT_REGION", default="us-east-1")
AWS_CONNECT_TIMEOUT = env.int("AWS_CONNECT_TIMEOUT", default=5)
AWS_READ_TIMEOUT = env.int("AWS_READ_TIMEOUT", default=30)
AWS_MAX_ATTEMPTS = env.int("AWS_MAX_ATTEMPTS", default=5)
# The platform's own IAM principal that customer roles trust. Empty: asked from STS (GetCallerIdentity).
PLATFORM_AWS_PRINCIPAL_ARN = env.str("PLATFORM_AWS_PRINCIPAL_ARN", default="")
# The CloudFormation onboarding: role and stack names, and (optional) the S3 https URL where the generic
# template (`manage.py export_cloudformation_template`) is published, which enables the console quick-create link.
CLOUDFORMATION_ROLE_NAME = env.str("CLOUDFORMATION_ROLE_NAME", default="SpotOptimizerCrossAccountRole")
CLOUDFORMATION_STACK_NAME = env.str("CLOUDFORMATION_STACK_NAME", default="SpotOptimizer")
CLOUDFORMATION_TEMPLATE_URL = env.str("CLOUDFORMATION_TEMPLATE_URL", default="")
# Tags that make an instance authorized ("Key" or "Key=Value"); others are flagged as rogue, and after the
# grace period a TERMINATE_ROGUE approval request is filed (never an automatic termination).
FLEET_AUTHORIZING_TAGS = env.list(
    "FLEET_AUTHORIZING_TAGS", default=["ManagedBy=SpotOptimizer", "aws:autoscaling:groupName", "eks:cluster-name"]
)
ROGUE_GRACE_HOURS = env.int("ROGUE_GRACE_HOURS", default=24)

# How long an approval request waits for a decision, per risk level (hours), before it expires.
APPROVAL_EXPIRY_HOURS = {
    "LOW": env.int("APPROVAL_EXPIRY_HOURS_LOW", default=72),
    "MEDIUM": env.int("APPROVAL_EXPIRY_HOURS_MEDIUM", default=48),
    "HIGH": env.int("APPROVAL_EXPIRY_HOURS_HIGH", default=24),
    "CRITICAL": env.int("APPROVAL_EXPIRY_HOURS_CRITICAL", default=4),
}

# The hive: how many pools one tenant may newly poison in an hour before its further interruption events
# are held for a super_admin's review (so one tenant cannot blind the hive for everybody).
RISK_TENANT_POISONS_PER_HOUR = env.int("RISK_TENANT_POISONS_PER_HOUR", default=20)
# The SQS queue (one per scanned region of a customer's account) EventBridge delivers interruption events to.
RISK_EVENT_QUEUE_NAME = env.str("RISK_EVENT_QUEUE_NAME", default="spotopt-interruption-events")
# The listener reacts to stored events on a pool of its own (each reaction: a few AWS calls and queries),
# so a burst of warnings is replaced in parallel; each thread holds one database connection.
RISK_REACTION_THREADS = env.int("RISK_REACTION_THREADS", default=16)

# Waste: how long a resource must be idle before it counts (days), and the price catalog's overrides
# (waste/prices.py documents the keys and every default's source).
WASTE_VOLUME_IDLE_DAYS = env.int("WASTE_VOLUME_IDLE_DAYS", default=7)
WASTE_SNAPSHOT_MIN_AGE_DAYS = env.int("WASTE_SNAPSHOT_MIN_AGE_DAYS", default=30)
WASTE_AMI_MIN_AGE_DAYS = env.int("WASTE_AMI_MIN_AGE_DAYS", default=30)
WASTE_STOPPED_INSTANCE_DAYS = env.int("WASTE_STOPPED_INSTANCE_DAYS", default=30)
WASTE_PRICES = env.json("WASTE_PRICES", default={})
# Demo only: AWS's emulator cannot backdate creation times, so the demo's idle resources carry their age in
# this tag (days) and the scanner reads it instead of the creation time. Empty (the default) everywhere else.
WASTE_AGE_TAG = env.str("WASTE_AGE_TAG", default="")

# Market data for the optimizer (fleet/market.py): how much Spot price history is kept fetched, and the
# public Spot Instance Advisor data (fetched daily; an air-gapped install points it at a mirror).
MARKET_SPOT_HISTORY_DAYS = env.int("MARKET_SPOT_HISTORY_DAYS", default=7)
SPOT_ADVISOR_URL = env.str(
    "SPOT_ADVISOR_URL", default="https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json"
)
SPOT_ADVISOR_MAX_BYTES = env.int("SPOT_ADVISOR_MAX_BYTES", default=20 * 1024 * 1024)

# The optimizer's decision: a SWITCH needs a pool that saves at least this share of the current price at a
# crash probability of at most this much.
OPTIMIZER_MIN_SAVING = env.float("OPTIMIZER_MIN_SAVING", default=0.20)
OPTIMIZER_MAX_RISK = env.float("OPTIMIZER_MAX_RISK", default=0.15)
# A switch waits this long for its replacement to run with both status checks ok (and to be InService in
# its Auto Scaling group) before it rolls back, asking AWS every SWITCH_POLL_SECONDS. It runs inside one
# django-q2 task, so Q_TIMEOUT must leave room for both waits.
SWITCH_HEALTHY_TIMEOUT_SECONDS = env.int("SWITCH_HEALTHY_TIMEOUT_SECONDS", default=240)
SWITCH_POLL_SECONDS = env.float("SWITCH_POLL_SECONDS", default=5.0)
# After a refused switch (its request rejected or expired) the optimizer does not ask about that instance
# again for this long; after a rolled-back or failed one it waits this long before trying again.
SWITCH_REFUSED_PAUSE_HOURS = env.int("SWITCH_REFUSED_PAUSE_HOURS", default=24)
SWITCH_FAILED_PAUSE_MINUTES = env.int("SWITCH_FAILED_PAUSE_MINUTES", default=60)
# An instance a switch launched is not switched again for this long (no fallback-and-return flapping).
SWITCH_SETTLE_MINUTES = env.int("SWITCH_SETTLE_MINUTES", default=60)

# /metrics (ops.metrics): Prometheus scrapes it with `Authorization: Bearer <METRICS_TOKEN>`; empty: off (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Kubernetes (kube/, spotopt/kube.py). A drain must end inside the two-minute interruption warning: the
# deadline covers tainting, cordoning, every eviction (retried with backoff while a PodDisruptionBudget
# answers 429) and waiting for the evicted pods to leave; each eviction asks for this grace period.
KUBE_DRAIN_DEADLINE_SECONDS = env.int("KUBE_DRAIN_DEADLINE_SECONDS", default=90)
KUBE_POD_GRACE_SECONDS = env.int("KUBE_POD_GRACE_SECONDS", default=30)
KUBE_EVICTION_BACKOFF_SECONDS = env.float("KUBE_EVICTION_BACKOFF_SECONDS", default=1.0)  # doubles, up to 8 s
KUBE_CONNECT_TIMEOUT = env.float("KUBE_CONNECT_TIMEOUT", default=5.0)
KUBE_READ_TIMEOUT = env.float("KUBE_READ_TIMEOUT", default=15.0)
# How long an optimizer switch of a node waits for the new node to be Ready in its cluster.
KUBE_NODE_READY_TIMEOUT_SECONDS = env.int("KUBE_NODE_READY_TIMEOUT_SECONDS", default=180)

# The largest ONNX model file accepted (bytes): below the API's 5 MB request body, so an upload through the
# API and through the Lab page are held to the same limit.
MLMODEL_MAX_BYTES = env.int("MLMODEL_MAX_BYTES", default=4 * 1024 * 1024)

# How long a team invitation link stays valid (days).
TEAM_INVITATION_DAYS = env.int("TEAM_INVITATION_DAYS", default=7)

# Regions a customer may choose to scan.
SPOTOPT_REGIONS = env.list(
    "SPOTOPT_REGIONS",
    default=[
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "sa-east-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-north-1",
        "ap-south-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-southeast-1",
        "ap-southeast-2",
    ],
)

# --- Task queue (django-q2) ---------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "spotopt",
    "workers": env.int("Q_WORKERS", default=2),
    # A switch runs in one task: up to 2 x SWITCH_HEALTHY_TIMEOUT_SECONDS, and for a Kubernetes node also
    # KUBE_NODE_READY_TIMEOUT_SECONDS and KUBE_DRAIN_DEADLINE_SECONDS (kube.checks warns when they do not fit).
    "timeout": env.int("Q_TIMEOUT", default=900),
    # retry must exceed timeout, or a slow task is handed out twice.
    "retry": env.int("Q_TIMEOUT", default=900) + 60,
    "max_attempts": 3,
    "queue_limit": 50,
    "bulk": 10,
    "poll": 0.5,
    "catch_up": False,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    # API throttle counters shared by every web process.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    Q_CLUSTER["orm"] = "default"
if env.bool("Q_SYNC", default=False):
    Q_CLUSTER["sync"] = True

# Apps whose tasks.py declares periodic jobs (SCHEDULES) for `manage.py setup_schedules`.
SCHEDULE_MODULES = [
    "spotopt.tasks",
    "accounts.tasks",
    "fleet.tasks",
    "mlgov.tasks",
    "waste.tasks",
    "risk.tasks",
    "approvals.tasks",
    "sla.tasks",
    "savings.tasks",
]

# --- API ----------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "EXCEPTION_HANDLER": "spotopt.api.exception_handler",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["spotopt.filters.FilterBackend"],
    # Cursor (keyset) pages with a capped count: a deep page costs what the first does.
    "DEFAULT_PAGINATION_CLASS": "spotopt.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "spotopt.api.ProductAutoSchema",
    # Scoped throttles for endpoints that call AWS on the user's behalf.
    "DEFAULT_THROTTLE_RATES": {
        "onboarding": env.str("ONBOARDING_THROTTLE_RATE", default="30/minute"),
        # Per calling address on the event webhook (EventBridge API destinations send one event a call).
        "risk_ingest": env.str("RISK_INGEST_THROTTLE_RATE", default="600/minute"),
    },
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=10)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    # Each refresh hands out a new refresh token and blacklists the old one: a stolen token works once.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "spotopt API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema names every endpoint and field: signed-in users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Separate request and response components (AccountUpdateRequest / Account): requests say what they
    # take (minLength of required strings, no read-only fields), responses what they give (no write-only).
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per shared choice set in the schema (regions appear in several serializers).
    "ENUM_NAME_OVERRIDES": {
        "AwsRegionEnum": SPOTOPT_REGIONS,
        "InvitationStatusEnum": "accounts.choices.InvitationStatus",
        "AccountStatusEnum": "accounts.choices.AccountStatus",
        "ApprovalStatusEnum": "approvals.choices.ApprovalStatus",
        "InvitableRoleEnum": ["user", "client"],
        "UserRoleEnum": "accounts.choices.Role",
        "DiscoveryStateEnum": ["not_started", "running", "succeeded", "failed"],
        "DeletionOutcomeEnum": ["deleted", "skipped", "failed"],
        "RiskEventOutcomeEnum": "risk.choices.EventOutcome",
        "WasteStatusEnum": "waste.choices.WasteStatus",
        "ModelStatusEnum": "mlgov.choices.ModelStatus",
        "PriceBasisEnum": "savings.choices.PriceBasis",
    },
}

# --- Logging ------------------------------------------------------------------------------------------
# LOG_FORMAT=json: one JSON object a line (spotopt.logs), with the task id and account id of background work.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "spotopt.logs.JsonFormatter"},
    },
    "filters": {"context": {"()": "spotopt.logs.ContextFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # botocore at DEBUG prints request bodies, which can carry credentials.
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # django-axes logs every sign-in at INFO; failures and lockouts still show at WARNING.
        "axes": {"level": "WARNING"},
    },
}
