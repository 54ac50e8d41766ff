"""Every environment variable the tool reads, declared once: kind, default, doc, secret, feature.

``VARIABLES`` is the single source of truth. ``read`` turns a variable of the
merged settings into a typed value (a bad value is a ``ConfigError`` naming it,
with the variable's hint); ``config`` builds the settings objects from these
values; ``variables_docs`` writes the env examples, the README tables and the
``--help`` list from the same rows. Generation-time defaults are named, not
imported, so this module works in the template repository too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import values
from .compression import COMPRESSIONS
from .errors import ConfigError
from .naming import TYPE_CHOICES, WEEKDAYS

# Features, in the order the docs show them: (key, heading).
FEATURES = (
    ("sources", "Settings files"),
    ("connection", "Database connection"),
    ("storage", "Backup storage"),
    ("compression", "Compression"),
    ("schedule", "Backup type"),
    ("retention", "Retention"),
    ("verify", "Verification"),
    ("encryption", "Encryption (optional)"),
    ("monitoring", "Monitoring"),
    ("s3", "S3 remote storage (optional)"),
)

# How a variable shows in scripts/backup-config.env.example.
ACTIVE = "active"  # NAME=value
COMMENTED = "commented"  # # NAME=example
OMITTED = "omitted"  # not written


@dataclass(frozen=True)
class Generated:
    """A default chosen when the project was generated: ``defaults.<attribute>``."""

    attribute: str  # in db_backup.defaults
    answer: str  # the cookiecutter answer it comes from
    pattern: str = "{}"  # the text around it

    def value(self) -> str:
        """The generated value (imports ``defaults``, which the template cannot)."""
        from . import defaults

        return self.pattern.format(getattr(defaults, self.attribute))

    def template(self) -> str:
        """The same value as template text, for the template repository's own files."""
        # Written without a literal double brace: this module is itself rendered by Jinja.
        opening, closing = "{" * 2, "}" * 2
        return self.pattern.format(f"{opening} cookiecutter.{self.answer} {closing}")


@dataclass(frozen=True)
class Variable:
    """One setting: how it is read and how it is documented."""

    name: str
    feature: str
    doc: str  # one line, for the README and the env examples
    kind: str = "text"  # text, int, choice, bool
    default: str | Generated = ""  # "" means unset
    default_doc: str | None = None  # the README's Default cell when not simply ``default``
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    secret: bool = False
    hint: str | None = None  # added to the error for a bad value
    example: str | Generated | None = None  # value in the env example (default: the default)
    in_example: str = COMMENTED
    in_fragment: str = OMITTED  # in the .env.example block added to the host project

    def default_value(self) -> str:
        """The default as text (generation-time ones looked up in ``defaults``)."""
        return self.default.value() if isinstance(self.default, Generated) else self.default


def _retention_hint(backup_type: str, unit: str) -> str:
    return (
        f"an age in {unit}s after which {backup_type} backups are deleted; "
        f"0 keeps every {backup_type} backup"
    )


# Generous upper bounds (about a century) so a typo cannot overflow a timedelta.
MAX_RETENTION_DAYS = 36_500

_ROWS = (
    # -- settings files --------------------------------------------------------------------
    Variable(
        "BACKUP_CONFIG_FILE",
        "sources",
        "the config file; when set, it must exist",
        default_doc="`scripts/backup-config.env`",
        in_example=OMITTED,
    ),
    Variable(
        "BACKUP_ENV_FILES",
        "sources",
        "more env files, comma-separated, read below the config file and above `.env`",
        example=".envs/.production/.postgres",
    ),
    # -- connection ------------------------------------------------------------------------
    Variable(
        "POSTGRES_HOST", "connection", "database host", default="localhost", in_example=ACTIVE
    ),
    Variable(
        "POSTGRES_PORT",
        "connection",
        "database port",
        kind="int",
        minimum=1,
        maximum=65535,
        default=Generated("POSTGRES_PORT", "postgres_port"),
        in_example=ACTIVE,
    ),
    Variable(
        "POSTGRES_DB",
        "connection",
        "database to back up; also the file name prefix",
        default=Generated("POSTGRES_DB", "postgres_db"),
        in_example=ACTIVE,
    ),
    Variable(
        "POSTGRES_USER",
        "connection",
        "user `pg_dump` logs in as",
        default=Generated("POSTGRES_USER", "postgres_user"),
        in_example=ACTIVE,
    ),
    Variable(
        "PGPASSWORD",
        "connection",
        "the password (better kept out of files in production); or one of the next four",
        secret=True,
    ),
    Variable(
        "PGPASSWORD_FILE",
        "connection",
        "a file holding only the password (a Docker or Kubernetes secret); "
        "one trailing newline is ignored",
        example="/run/secrets/postgres_password",
    ),
    Variable(
        "PGPASSFILE",
        "connection",
        "a libpq password file (`host:port:db:user:password` lines); "
        "`~/.pgpass` is used when it exists",
        example="~/.pgpass",
    ),
    Variable(
        "POSTGRES_PASSWORD",
        "connection",
        "the password under the name compose projects and the postgres image use; "
        "`PGPASSWORD` wins when both are set",
        secret=True,
        in_example=OMITTED,
    ),
    Variable(
        "POSTGRES_HOST_AUTH_METHOD",
        "connection",
        "`trust`: the server lets this user in without a password, so none is required",
        example="trust",
    ),
    Variable(
        "PGCONNECT_TIMEOUT",
        "connection",
        "seconds to wait for the server before giving up (exit 3)",
        kind="int",
        minimum=1,
        maximum=3600,
        default="10",
    ),
    Variable(
        "BACKUP_LOCK_WAIT_TIMEOUT",
        "connection",
        "seconds `pg_dump` waits for a table lock another session holds before it gives up "
        "(exit 4); 0 waits forever",
        kind="int",
        minimum=0,
        maximum=86_400,
        default="120",
    ),
    Variable(
        "BACKUP_TIMEOUT",
        "connection",
        "seconds a whole run (a backup, `--verify-file`, `--verify-remote`, a restore up to "
        "its swap) may take; then it stops, children killed and nothing partial kept "
        "(exit 4 while dumping, 3 in a test restore, 8 in a restore); 0: no limit",
        kind="int",
        minimum=0,
        maximum=604_800,
        default="0",
    ),
    # -- storage ---------------------------------------------------------------------------
    Variable(
        "BACKUP_DIR",
        "storage",
        "where backups go (relative to the project root); created with mode 0700",
        default="./backups",
        in_example=ACTIVE,
        in_fragment=ACTIVE,
    ),
    Variable(
        "BACKUP_OWNERSHIP",
        "storage",
        "`keep`: dumps keep owners and grants, and each backup has a `.roles.sql` file of the "
        "server's roles beside it; `drop`: `--no-owner --no-privileges`, no roles file",
        kind="choice",
        choices=("keep", "drop"),
        default="keep",
    ),
    # -- compression -----------------------------------------------------------------------
    Variable(
        "BACKUP_COMPRESSION",
        "compression",
        "`gzip` (`.sql.gz`, the contract format; pigz when installed) or `zstd` (`.sql.zst`)",
        kind="choice",
        choices=COMPRESSIONS,
        default=Generated("BACKUP_COMPRESSION", "backup_compression"),
        in_example=ACTIVE,
    ),
    Variable(
        "BACKUP_COMPRESSION_LEVEL",
        "compression",
        "1-9 for gzip, 1-19 for zstd",
        kind="int",
        default=Generated("BACKUP_COMPRESSION_LEVEL", "backup_compression_level"),
        in_example=ACTIVE,
    ),
    Variable(
        "BACKUP_COMPRESSION_THREADS",
        "compression",
        "pigz/zstd threads; 0 is one per available core",
        kind="int",
        minimum=0,
        maximum=1024,
        default="0",
    ),
    # -- backup type -----------------------------------------------------------------------
    Variable(
        "BACKUP_TYPE",
        "schedule",
        "the type when `--type` is not given: daily, weekly, monthly or auto",
        kind="choice",
        choices=TYPE_CHOICES,
        default="daily",
    ),
    Variable(
        "BACKUP_WEEKLY_DAY",
        "schedule",
        "the weekday on which `--type=auto` makes the weekly backup",
        kind="choice",
        choices=WEEKDAYS,
        default=Generated("BACKUP_WEEKLY_DAY", "backup_weekly_day"),
        in_example=ACTIVE,
    ),
    Variable(
        "BACKUP_SCHEDULE",
        "schedule",
        "the schedule of `--schedule` without a value (the compose service passes it): a "
        "cron expression (`30 2 * * *`, `@daily`; needs croniter) or interval (`@every 6h`)",
        example="30 2 * * *",
    ),
    Variable(
        "BACKUP_TZ",
        "schedule",
        "time zone of `BACKUP_SCHEDULE` (`Europe/Berlin`, `UTC`)",
        default_doc="`TZ`, else local time",
        example="UTC",
    ),
    # -- retention -------------------------------------------------------------------------
    Variable(
        "BACKUP_RETENTION_DAILY",
        "retention",
        "days a daily backup is kept; 0 keeps every backup of the type",
        kind="int",
        minimum=0,
        maximum=MAX_RETENTION_DAYS,
        default=Generated("BACKUP_RETENTION_DAILY", "backup_retention_daily"),
        hint=_retention_hint("daily", "day"),
        in_example=ACTIVE,
        in_fragment=ACTIVE,
    ),
    Variable(
        "BACKUP_RETENTION_WEEKLY",
        "retention",
        "weeks (of 7 days) a weekly backup is kept; 0 keeps every backup of the type",
        kind="int",
        minimum=0,
        maximum=MAX_RETENTION_DAYS // 7,
        default=Generated("BACKUP_RETENTION_WEEKLY", "backup_retention_weekly"),
        hint=_retention_hint("weekly", "week"),
        in_example=ACTIVE,
        in_fragment=ACTIVE,
    ),
    Variable(
        "BACKUP_RETENTION_MONTHLY",
        "retention",
        "months (of 30 days) a monthly backup is kept; 0 keeps every backup of the type",
        kind="int",
        minimum=0,
        maximum=MAX_RETENTION_DAYS // 30,
        default=Generated("BACKUP_RETENTION_MONTHLY", "backup_retention_monthly"),
        hint=_retention_hint("monthly", "month"),
        in_example=ACTIVE,
        in_fragment=ACTIVE,
    ),
    Variable(
        "BACKUP_KEEP_MIN",
        "retention",
        "newest good backups of each type always kept, whatever their age",
        kind="int",
        minimum=0,
        maximum=10_000,
        default="1",
        hint="the number of newest good backups of each type always kept; 0 or more",
    ),
    # -- verification ----------------------------------------------------------------------
    Variable(
        "BACKUP_VERIFY_RESTORE",
        "verify",
        "the test restore of `--verify`: `auto` (when the role may create databases), "
        "`always` or `never`",
        kind="choice",
        choices=("auto", "always", "never"),
        default="auto",
    ),
    # -- encryption ------------------------------------------------------------------------
    Variable(
        "BACKUP_AGE_RECIPIENTS",
        "encryption",
        "age public keys (`age1...`) and/or SSH public keys, comma-separated: every backup is "
        "encrypted to each of them (`.sql.gz.age`)",
        example="age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    ),
    Variable(
        "BACKUP_AGE_RECIPIENTS_FILE",
        "encryption",
        "a recipients file (one public key per line, `#` comments), as `age -R` reads it",
        example="/etc/db-backup/recipients.txt",
    ),
    Variable(
        "BACKUP_AGE_IDENTITY_FILE",
        "encryption",
        "the private key that decrypts backups for `--verify`, `--verify-file`, "
        "`--verify-remote` and `db-restore.sh`; keep it off the database host",
        example="/run/secrets/backup_age_identity",
    ),
    # -- monitoring ------------------------------------------------------------------------
    Variable(
        "BACKUP_LOG_FORMAT",
        "monitoring",
        "log lines as `text` (`[time] [LEVEL] message`) or `json` (one object per line)",
        kind="choice",
        choices=("text", "json"),
        default="text",
    ),
    Variable(
        "BACKUP_METRICS_FILE",
        "monitoring",
        "Prometheus textfile written at the end of every run",
        example="/var/lib/prometheus/node-exporter/backup.prom",
    ),
    Variable(
        "BACKUP_PUSHGATEWAY_URL",
        "monitoring",
        "Prometheus Pushgateway the same metrics are pushed to after every run "
        "(group `job=db_backup`, `database`); a failed push is a warning",
        example="http://pushgateway.monitoring:9091",
    ),
    Variable(
        "BACKUP_MAX_AGE",
        "monitoring",
        "`--check` fails when the newest good backup is older than this (`26h`, `8d`)",
        default="26h",
    ),
    Variable(
        "BACKUP_PING_URL",
        "monitoring",
        "healthchecks.io-style check URL: `/start` at each run, the URL on success, "
        "`/<exit code>` on failure (an Uptime Kuma push URL works too)",
        example="https://hc-ping.com/your-check-uuid",
        secret=True,
    ),
    Variable(
        "BACKUP_WEBHOOK_URL",
        "monitoring",
        "receives one JSON object per failed run (per run with `BACKUP_WEBHOOK_ON=always`)",
        example="https://hooks.example.com/db-backup",
        secret=True,
    ),
    Variable(
        "BACKUP_WEBHOOK_ON",
        "monitoring",
        "when the webhook is called: `failure` or `always`",
        kind="choice",
        choices=("failure", "always"),
        default="failure",
    ),
    Variable(
        "BACKUP_NOTIFY_URLS",
        "monitoring",
        "apprise URLs (Slack, e-mail, Teams, Telegram, ntfy...), comma-separated; needs apprise",
        example="ntfy://ntfy.sh/your-topic",
        secret=True,
    ),
    Variable(
        "BACKUP_NOTIFY_ON",
        "monitoring",
        "when `BACKUP_NOTIFY_URLS` get a message: `failure` or `always`",
        kind="choice",
        choices=("failure", "always"),
        default="failure",
    ),
    # -- S3 --------------------------------------------------------------------------------
    Variable(
        "BACKUP_S3_BUCKET",
        "s3",
        "bucket name; unset means no remote copy",
        example="your-bucket-name",
        in_fragment=COMMENTED,
    ),
    Variable(
        "BACKUP_S3_PREFIX",
        "s3",
        "folder in the bucket; a trailing `/` is added",
        default="backups/",
        example=Generated("PROJECT_SLUG", "project_slug", "backups/{}/"),
        in_fragment=COMMENTED,
    ),
    Variable(
        "BACKUP_S3_ENDPOINT_URL",
        "s3",
        "endpoint of an S3-compatible store (`https://host:port`)",
        default_doc="AWS; else `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL` (both ignored "
        "with `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`)",
        example="https://minio.example.com:9000",
    ),
    Variable(
        "BACKUP_S3_REGION",
        "s3",
        "the bucket's region",
        default_doc="`AWS_REGION`, then `AWS_DEFAULT_REGION`",
        example="us-east-1",
    ),
    Variable(
        "BACKUP_S3_ADDRESSING_STYLE",
        "s3",
        "`auto`, `path` or `virtual`",
        kind="choice",
        choices=("auto", "path", "virtual"),
        default_doc="`path` with a custom endpoint, else `auto`",
        example="path",
    ),
    Variable(
        "BACKUP_S3_FORCE_PATH_STYLE",
        "s3",
        "`true` is the same as `BACKUP_S3_ADDRESSING_STYLE=path`",
        kind="bool",
        default="false",
    ),
    Variable(
        "BACKUP_S3_CA_BUNDLE",
        "s3",
        "PEM file of the CA that signed the endpoint's certificate",
        default_doc="system CAs (or `AWS_CA_BUNDLE`)",
        example="/etc/ssl/certs/minio-ca.pem",
    ),
    Variable(
        "BACKUP_S3_CHECKSUM_MODE",
        "s3",
        "`when_supported` or `when_required`: when boto3 adds and checks CRC checksums",
        kind="choice",
        choices=("when_supported", "when_required"),
        default_doc="`when_required` with a custom endpoint, else boto3's default",
        example="when_supported",
    ),
    Variable(
        "BACKUP_S3_STORAGE_CLASS",
        "s3",
        "storage class of the backup objects (`STANDARD_IA`, `GLACIER_IR`, ...)",
        default_doc="the bucket's default",
        example="STANDARD_IA",
    ),
    Variable(
        "BACKUP_S3_SSE",
        "s3",
        "server-side encryption: `AES256` or `aws:kms`",
        default_doc="the bucket's default",
        example="AES256",
    ),
    Variable(
        "BACKUP_S3_SSE_KMS_KEY_ID",
        "s3",
        "KMS key for `BACKUP_S3_SSE=aws:kms`",
        default_doc="the account's S3 key",
    ),
    Variable(
        "BACKUP_S3_MAX_ATTEMPTS",
        "s3",
        "attempts per request in all, the first included (1 = no retry), 1-100",
        kind="int",
        minimum=1,
        maximum=100,
        default="20",
    ),
    Variable(
        "BACKUP_S3_RETRY_SECONDS",
        "s3",
        "how long a failing request (each part of an upload) is retried, from its first "
        "failure; 0 = no retry",
        kind="int",
        minimum=0,
        maximum=3600,
        default="30",
    ),
    Variable(
        "BACKUP_S3_DELETE_LOCAL_AFTER_UPLOAD",
        "s3",
        "delete the local copy once its upload is proven (for containers short of disk)",
        kind="bool",
        default="false",
    ),
    Variable(
        "BACKUP_S3_PART_SIZE_MB",
        "s3",
        "smallest multipart part size in MiB (at least 5); raised when the file needs it",
        kind="int",
        minimum=5,
        maximum=5 * 1024,
        default_doc="`8`",
        example="8",
    ),
    Variable(
        "BACKUP_S3_MAX_PARTS",
        "s3",
        "the store's limit of parts per multipart upload (Scaleway, some Ceph: 1000); "
        "the part size grows so a backup fits",
        kind="int",
        minimum=1,
        maximum=10_000,
        default="10000",
        example="1000",
    ),
    Variable(
        "AWS_REGION",
        "s3",
        "the bucket's region when `BACKUP_S3_REGION` is unset (`AWS_DEFAULT_REGION` after it)",
        example="us-east-1",
    ),
    Variable(
        "AWS_ACCESS_KEY_ID",
        "s3",
        "access key, with `AWS_SECRET_ACCESS_KEY` (or `AWS_PROFILE`, or a role)",
        example="your-access-key",
    ),
    Variable(
        "AWS_SECRET_ACCESS_KEY",
        "s3",
        "secret key of `AWS_ACCESS_KEY_ID`",
        secret=True,
        example="your-secret-key",
    ),
    Variable(
        "AWS_SESSION_TOKEN",
        "s3",
        "session token of temporary keys",
        secret=True,
        in_example=OMITTED,
    ),
    Variable("AWS_PROFILE", "s3", "a profile of the shared AWS config", in_example=OMITTED),
    Variable(
        "AWS_DEFAULT_REGION", "s3", "the bucket's region after `AWS_REGION`", in_example=OMITTED
    ),
    Variable(
        "AWS_ENDPOINT_URL_S3",
        "s3",
        "boto3's S3 endpoint, used when `BACKUP_S3_ENDPOINT_URL` is unset",
        in_example=OMITTED,
    ),
    Variable(
        "AWS_ENDPOINT_URL",
        "s3",
        "boto3's endpoint for every service, used after `AWS_ENDPOINT_URL_S3`",
        in_example=OMITTED,
    ),
    Variable(
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "s3",
        "`true`: ignore the two `AWS_ENDPOINT_URL*` variables (as boto3 does)",
        kind="bool",
        default="false",
        in_example=OMITTED,
    ),
    Variable(
        "AWS_CA_BUNDLE",
        "s3",
        "boto3's CA bundle, used when `BACKUP_S3_CA_BUNDLE` is unset",
        in_example=OMITTED,
    ),
)

VARIABLES: dict[str, Variable] = {row.name: row for row in _ROWS}
SECRETS = tuple(row.name for row in _ROWS if row.secret)


def read(
    env: Mapping[str, str], name: str, *, minimum: int | None = None, maximum: int | None = None
) -> str | int | bool:
    """The typed value of ``name`` (its default when unset or blank); ``ConfigError`` if bad.

    ``minimum``/``maximum`` narrow an int's range where it depends on another setting.
    """
    row = VARIABLES[name]
    try:
        if row.kind == "int":
            default = row.default_value()
            return values.get_int(
                env,
                name,
                int(default) if default else 0,
                minimum=row.minimum if minimum is None else minimum,
                maximum=row.maximum if maximum is None else maximum,
            )
        if row.kind == "bool":
            return values.get_bool(env, name, row.default_value() == "true")
        if row.kind == "choice":
            return values.get_choice(env, name, row.choices, row.default_value())
        return values.get_str(env, name, row.default_value())
    except ConfigError as exc:
        if row.hint is None:
            raise
        raise ConfigError(exc.msg, detail=exc.detail, hint=row.hint) from None


def read_text(env: Mapping[str, str], name: str) -> str:
    """A text variable (``read`` for the type checker)."""
    value = read(env, name)
    assert isinstance(value, str)
    return value


def read_int(env: Mapping[str, str], name: str, **bounds: int) -> int:
    """An int variable (``read`` for the type checker)."""
    value = read(env, name, **bounds)
    assert isinstance(value, int) and not isinstance(value, bool)
    return value


def read_bool(env: Mapping[str, str], name: str) -> bool:
    """A bool variable (``read`` for the type checker)."""
    value = read(env, name)
    assert isinstance(value, bool)
    return value
