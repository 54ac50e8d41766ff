#!/usr/bin/env bash
# Restore a backup of this project's PostgreSQL database (docs: tools/db-backup/README.md).
#
# A thin entry point like scripts/db-backup.sh: the same settings, env files and
# python3 (3.10+, standard library only), running the db_backup package's restore.
# Every flag and exit code is the package's: scripts/db-restore.sh --help.
set -euo pipefail

script_path="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
project_root="$(cd -- "$(dirname -- "${script_path}")/.." && pwd -P)"

if ! command -v python3 >/dev/null 2>&1; then
    printf '[%s] [ERROR] %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" \
        "python3 (3.10 or newer) is required: install it (Debian/Ubuntu: apt-get install python3; Alpine: apk add python3)" >&2
    exit 2
fi

export DB_BACKUP_PROJECT_ROOT="${project_root}"
export PYTHONPATH="${project_root}/tools/db-backup/src${PYTHONPATH:+:${PYTHONPATH}}"
exec python3 -m db_backup restore "$@"
