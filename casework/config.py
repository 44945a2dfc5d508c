"""Configuration from environment variables: Config for running, TestConfig for pytest."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = ROOT / "instance" / "secret_key"


def _secret_key() -> str | None:
    """SECRET_KEY from the environment, else instance/secret_key (written once by `make run`), else none.

    Without one the app refuses to start (casework.create_app): a known key lets anyone forge a
    session cookie and log in as anybody.
    """
    key = os.environ.get("SECRET_KEY", "").strip()
    if key:
        return key
    if SECRET_KEY_FILE.is_file():
        return SECRET_KEY_FILE.read_text(encoding="utf-8").strip() or None
    return None


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Accept the common "postgresql://" spelling and use psycopg 3.
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return f"sqlite:///{ROOT / 'instance' / 'casework.db'}"


class Config:
    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # A board stays open all day: the token is bound to the session, not to a clock.
    WTF_CSRF_TIME_LIMIT = None
    WTF_CSRF_HEADERS = ["X-CSRFToken"]
    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "translations")
    LANGUAGES = ["zh_Hans_CN", "en"]
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER", str(ROOT / "instance" / "uploads"))
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Posts that store photos per address: reports, and photos added from a tracking page (one budget).
    RATELIMIT_REPORT = os.environ.get("RATELIMIT_REPORT", "5 per minute;30 per day")
    # Tracking-code lookups per address (every /track route, photos included): slows code guessing.
    RATELIMIT_TRACK = os.environ.get("RATELIMIT_TRACK", "60 per minute;600 per day")
    # Activation attempts per address (/activate): slows guessing codes.
    RATELIMIT_ACTIVATE = os.environ.get("RATELIMIT_ACTIVATE", "10 per minute;50 per day")
    # How long an activation code works.
    ACTIVATION_HOURS = int(os.environ.get("ACTIVATION_HOURS", "72"))
    # Volunteer card and check-in pages per address (every route that takes a card code or a QR token),
    # and the posts that change something from them (each needs the mobile's last four digits).
    RATELIMIT_VOLUNTEER = os.environ.get("RATELIMIT_VOLUNTEER", "60 per minute;600 per day")
    # Points per confirmed hour served on a case by a volunteer team (activities carry their own rule).
    VOLUNTEER_CASE_POINTS_PER_HOUR = int(os.environ.get("VOLUNTEER_CASE_POINTS_PER_HOUR", "10"))
    # Earned points expire this many months after they were earned (0: never); `casework expire-points`.
    VOLUNTEER_POINTS_EXPIRE_MONTHS = int(os.environ.get("VOLUNTEER_POINTS_EXPIRE_MONTHS", "24"))
    RATELIMIT_VOLUNTEER_CONFIRM = os.environ.get("RATELIMIT_VOLUNTEER_CONFIRM", "10 per minute;100 per day")
    RETENTION_DAYS = int(os.environ.get("RETENTION_DAYS", "730"))
    # Rendered board cards kept per worker process (boards/cards.py; ≈ 4.5 kB each with its key); 0 = off.
    BOARD_CARD_CACHE_SIZE = int(os.environ.get("BOARD_CARD_CACHE_SIZE", "2048"))
    # Sessions end after SESSION_IDLE_MINUTES without a request the user made (a board's own polling
    # does not count) and SESSION_ABSOLUTE_HOURS after login, whatever happens (docs/deploy.md).
    SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "30"))
    SESSION_ABSOLUTE_HOURS = int(os.environ.get("SESSION_ABSOLUTE_HOURS", "12"))
    # Failed logins before a temporary lock, per typed account name and per address (limits syntax).
    LOGIN_LOCK_ACCOUNT = os.environ.get("LOGIN_LOCK_ACCOUNT", "5 per 15 minutes")
    LOGIN_LOCK_ADDRESS = os.environ.get("LOGIN_LOCK_ADDRESS", "20 per 15 minutes")
    # Password policy (services/passwords.py); PASSWORD_MAX_AGE_DAYS=0 means no periodic change.
    PASSWORD_MIN_LENGTH = int(os.environ.get("PASSWORD_MIN_LENGTH", "10"))
    PASSWORD_MIN_CLASSES = int(os.environ.get("PASSWORD_MIN_CLASSES", "3"))
    PASSWORD_MAX_AGE_DAYS = int(os.environ.get("PASSWORD_MAX_AGE_DAYS", "0"))
    # Open311 GeoReport v2 (docs/open311.md): calls per key (or per address without one), the
    # jurisdiction_id callers use, and how far lat/long may be from the nearest building.
    OPEN311_RATELIMIT = os.environ.get("OPEN311_RATELIMIT", "120 per minute")
    OPEN311_JURISDICTION_ID = os.environ.get("OPEN311_JURISDICTION_ID", "")
    OPEN311_MAX_DISTANCE_M = float(os.environ.get("OPEN311_MAX_DISTANCE_M", "300"))
    OPEN311_CONTACT = os.environ.get("OPEN311_CONTACT", "")
    OPEN311_KEY_SERVICE = os.environ.get("OPEN311_KEY_SERVICE", "")
    # The address people tap in a notice (group robots, mail, SMS): where the app is reachable.
    NOTICE_BASE_URL = os.environ.get("NOTICE_BASE_URL", "http://localhost:5000")
    # How many reverse proxies (nginx) stand in front of the app; 0 when serving directly.
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))
    # Logs: one JSON object per line with LOG_JSON=1 (text otherwise); every line carries the request id.
    LOG_JSON = os.environ.get("LOG_JSON", "0") == "1"
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # /metrics answers only these client addresses (direct connections), or anyone sending
    # "Authorization: Bearer $METRICS_TOKEN"; everyone else gets a 404 (docs/deploy.md).
    METRICS_ALLOW = os.environ.get("METRICS_ALLOW", "127.0.0.1,::1")
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
    # Compression (Flask-Compress): brotli, else gzip, for text responses of at least 1 kB; a board
    # page of ~440 kB goes out as ~30 kB. Never on 304s or other non-2xx answers. COMPRESS=0 turns it off
    # (e.g. when nginx compresses).
    COMPRESS_REGISTER = os.environ.get("COMPRESS", "1") == "1"
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_ALGORITHM_STREAMING = ["br", "deflate"]
    COMPRESS_MIN_SIZE = 1024
    COMPRESS_BR_LEVEL = 4
    COMPRESS_LEVEL = 6
    # The app answers If-None-Match itself (boards, static files) before the body is compressed.
    COMPRESS_EVALUATE_CONDITIONAL_REQUEST = False
    # Seconds a client is told to wait (Retry-After) when the database is busy or unreachable.
    DB_BUSY_RETRY_AFTER = int(os.environ.get("DB_BUSY_RETRY_AFTER", "2"))


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    WTF_CSRF_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    # Tests post many reports and look up many codes from one address; tests/test_public.py lowers
    # these to check the 429s.
    RATELIMIT_REPORT = "10000 per minute"
    RATELIMIT_TRACK = "10000 per minute"
    # Many tests log in (and fail to) as the same demo users; tests/test_accounts.py lowers these.
    LOGIN_LOCK_ACCOUNT = "10000 per minute"
    LOGIN_LOCK_ADDRESS = "10000 per minute"
    RATELIMIT_ACTIVATE = "10000 per minute"
    OPEN311_RATELIMIT = "10000 per minute"
    RATELIMIT_VOLUNTEER = "10000 per minute"
    RATELIMIT_VOLUNTEER_CONFIRM = "10000 per minute"
