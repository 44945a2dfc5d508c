"""Configuration from environment variables: Config for running, TestConfig for pytest."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Accept the common "postgresql://" spelling and use psycopg 3.
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return f"sqlite:///{ROOT / 'instance' / 'casework.db'}"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-change-me")
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
    # Volunteer card and check-in pages per address (every route that takes a card code or a QR token),
    # and the posts that change something from them (each needs the mobile's last four digits).
    RATELIMIT_VOLUNTEER = os.environ.get("RATELIMIT_VOLUNTEER", "60 per minute;600 per day")
    RATELIMIT_VOLUNTEER_CONFIRM = os.environ.get("RATELIMIT_VOLUNTEER_CONFIRM", "10 per minute;100 per day")
    RETENTION_DAYS = int(os.environ.get("RETENTION_DAYS", "730"))
    # Rendered board cards kept per worker process (boards/cards.py; ≈ 4.5 kB each with its key); 0 = off.
    BOARD_CARD_CACHE_SIZE = int(os.environ.get("BOARD_CARD_CACHE_SIZE", "2048"))
    # How many reverse proxies (nginx) stand in front of the app; 0 when serving directly.
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))


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
    RATELIMIT_VOLUNTEER = "10000 per minute"
    RATELIMIT_VOLUNTEER_CONFIRM = "10000 per minute"
