"""PostgreSQL logical backups: pg_dump, compression, verification, retention, S3."""

__version__ = "1.0.0"
