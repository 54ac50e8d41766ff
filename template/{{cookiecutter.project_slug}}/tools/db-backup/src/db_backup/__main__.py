"""``python -m db_backup``: the same entry point as ``scripts/db-backup.sh``."""

from .cli import main

raise SystemExit(main())
