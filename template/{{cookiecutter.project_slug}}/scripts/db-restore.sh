#!/usr/bin/env bash
# Restore a backup of this project's PostgreSQL database (docs: tools/db-backup/README.md).
#
# The same entry point as scripts/db-backup.sh (same settings, env files and python3),
# running the db_backup package's restore: scripts/db-restore.sh --help lists the flags
# and exit codes.
set -euo pipefail

script_path="$(readlink -f -- "${BASH_SOURCE[0]}" 2>/dev/null || printf '%s' "${BASH_SOURCE[0]}")"
exec "$(dirname -- "${script_path}")/db-backup.sh" restore "$@"
