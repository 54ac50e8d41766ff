"""Values chosen when this project was generated; the environment overrides each."""

PROJECT_NAME = {{ cookiecutter.project_name | tojson }}
PROJECT_SLUG = {{ cookiecutter.project_slug | tojson }}
POSTGRES_DB = {{ cookiecutter.postgres_db | tojson }}
POSTGRES_USER = {{ cookiecutter.postgres_user | tojson }}
POSTGRES_PORT = {{ cookiecutter.postgres_port | int }}
BACKUP_COMPRESSION = {{ cookiecutter.backup_compression | tojson }}
BACKUP_COMPRESSION_LEVEL = {{ cookiecutter.backup_compression_level | int }}
BACKUP_RETENTION_DAILY = {{ cookiecutter.backup_retention_daily | int }}
BACKUP_RETENTION_WEEKLY = {{ cookiecutter.backup_retention_weekly | int }}
BACKUP_RETENTION_MONTHLY = {{ cookiecutter.backup_retention_monthly | int }}
BACKUP_WEEKLY_DAY = {{ cookiecutter.backup_weekly_day | tojson }}
# Env files read as a settings source when BACKUP_ENV_FILES is unset (project-root relative).
ENV_FILES: tuple[str, ...] = ()
