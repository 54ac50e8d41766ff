"""``--with-roles``: create the roles recorded with a backup that the target server lacks.

The roles file beside the backup is read whole (it is small), checked against its
``.sha256`` (exit 5 when it does not match), and only the statements about roles
the server does not have are run, in one transaction: existing roles are left as
they are, and a failure creates none (exit 8, before any database is touched).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

from .databases import Server
from .encryption import IDENTITY_VARIABLE, decrypt_small, is_sealed
from .errors import BackupError, ConfigError, RestoreError, VerifyError
from .restore_source import ChosenBackup
from .roles import MAX_ROLES_FILE_BYTES, RolesPlan, plan_roles, roles_filename

log = logging.getLogger(__name__)


def read_roles(chosen: ChosenBackup) -> str:
    """The text of the roles file kept with ``chosen``, checked by its ``.sha256``."""
    name = roles_filename(chosen.name)
    companion = chosen.store.companion(chosen.backup, name)
    if companion is None:
        raise ConfigError(
            f"--with-roles: {chosen.name} has no roles file {name} beside it",
            hint="backups made with BACKUP_OWNERSHIP=drop (or by older versions) have none; "
            "create the roles by hand, or restore without --with-roles",
        )
    expected = chosen.store.expected_sha256(companion)
    if expected is None:
        raise VerifyError(f"checksum: {name}.sha256 is missing or holds no sha256 digest")
    with contextlib.closing(chosen.store.open(companion)) as source:
        data = source.read(MAX_ROLES_FILE_BYTES + 1)
    if len(data) > MAX_ROLES_FILE_BYTES:
        limit = MAX_ROLES_FILE_BYTES >> 20
        raise VerifyError(f"{name} is larger than {limit} MiB: not a roles file")
    if hashlib.sha256(data).hexdigest() != expected:
        raise VerifyError(
            f"checksum: {name} does not match its .sha256",
            hint="the roles file changed after it was written; create the roles by hand",
        )
    if is_sealed(data):  # encrypted with the backup
        data = _decrypted(data, name, chosen)
    return data.decode("utf-8", "replace")


def _decrypted(data: bytes, name: str, chosen: ChosenBackup) -> bytes:
    """The plaintext of an encrypted roles file (read whole: it is small)."""
    if chosen.identity is None:
        raise ConfigError(
            f"--with-roles: {name} is encrypted: reading it needs {IDENTITY_VARIABLE}"
        )
    plaintext, error = decrypt_small(data, chosen.identity)
    if plaintext is None:
        raise VerifyError(f"decrypt: {name} does not decrypt with {chosen.identity}: {error}")
    return plaintext


def plan_for(server: Server, text: str) -> RolesPlan:
    """What applying ``text`` to ``server`` would do."""
    superuser, _ = server.role_may()
    rows = server.run("SELECT rolname FROM pg_catalog.pg_roles", what="listing the server's roles")
    existing = {row[0] for row in rows}
    return plan_roles(text, existing, superuser=superuser)


def apply_roles(server: Server, chosen: ChosenBackup) -> RolesPlan:
    """Create the missing roles; ``RestoreError`` (exit 8) when the server refuses."""
    plan = plan_for(server, read_roles(chosen))
    if not plan.created:
        log.info(f"--with-roles: every role of the backup exists already ({len(plan.existing)})")
        return plan
    try:
        server.run(plan.script(), what="creating the roles")
    except BackupError as exc:
        raise RestoreError(
            f"--with-roles: {exc.msg}",
            detail=exc.detail,
            hint="no role was created and no database touched; creating roles needs "
            "CREATEROLE (a superuser for SUPERUSER or REPLICATION roles)",
        ) from None
    log.info(
        f"--with-roles: created {len(plan.created)} role(s): {', '.join(plan.created)}; "
        f"{len(plan.existing)} existing left as they are"
    )
    return plan
