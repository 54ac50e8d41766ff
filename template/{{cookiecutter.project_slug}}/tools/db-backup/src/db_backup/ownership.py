"""Whether a role can restore a dump that keeps owners and grants, and what a refusal means.

A dump made with owners (``BACKUP_OWNERSHIP=keep``) hands each object to its
owner with ``ALTER ... OWNER TO``. A superuser may do that for any role; any
other role only for itself in practice (PostgreSQL also wants the new owner to
hold ``CREATE`` on the schema, which the dump grants only later). So a test
restore by an ordinary role works when that role owns everything it dumps, and
``FOREIGN_OWNERS_SQL`` names the other owners before a test restore is tried.

A statement refused for want of a role or a privilege says something about the
server the dump is restored into, never about the backup's bytes:
``privilege_problem`` recognises those refusals and ``hint_for`` says what to do.
"""

from __future__ import annotations

import re

_SYSTEM = "('pg_catalog', 'information_schema')"
_NOT_EXTENSION_MEMBER = (
    "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '{catalog}'::regclass "
    "AND d.objid = {alias}.oid AND d.deptype = 'e')"
)

# Roles other than the current one that own something pg_dump writes an owner for.
FOREIGN_OWNERS_SQL = f"""
SELECT DISTINCT r.rolname FROM (
  SELECT c.relowner AS owner FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN {_SYSTEM} AND n.nspname NOT LIKE 'pg\\_to%'
     AND n.nspname NOT LIKE 'pg\\_temp%'
     AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_class", alias="c")}
  UNION SELECT n.nspowner FROM pg_catalog.pg_namespace n
   WHERE n.nspname NOT IN {_SYSTEM} AND n.nspname <> 'public' AND n.nspname NOT LIKE 'pg\\_%'
     AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_namespace", alias="n")}
  UNION SELECT p.proowner FROM pg_catalog.pg_proc p
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname NOT IN {_SYSTEM}
     AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_proc", alias="p")}
  UNION SELECT t.typowner FROM pg_catalog.pg_type t
    JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname NOT IN {_SYSTEM} AND n.nspname NOT LIKE 'pg\\_to%'
     AND {_NOT_EXTENSION_MEMBER.format(catalog="pg_catalog.pg_type", alias="t")}
  UNION SELECT m.lomowner FROM pg_catalog.pg_largeobject_metadata m
  UNION SELECT a.defaclrole FROM pg_catalog.pg_default_acl a
) o JOIN pg_catalog.pg_roles r ON r.oid = o.owner
WHERE r.rolname NOT IN (current_user, 'pg_database_owner')
  AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
ORDER BY 1
"""

_PRIVILEGE_REFUSALS = re.compile(
    r'role ".*" does not exist'
    r"|must be (?:a )?member of role"
    r"|must be able to SET ROLE"
    r"|must be owner of"
    r"|permission denied",
)
_MISSING_ROLE = re.compile(r'role ".*" does not exist')


def privilege_problem(message: str) -> bool:
    """Whether psql's error is the server refusing a role or privilege (not the dump's fault)."""
    return bool(_PRIVILEGE_REFUSALS.search(message))


def hint_for(message: str) -> str | None:
    """What to do about a refused statement of a dump with owners and grants."""
    if _MISSING_ROLE.search(message):
        return (
            "the backup's owners and grants name roles this server lacks: restore with "
            "--with-roles to create them from the roles file kept with the backup"
        )
    if privilege_problem(message):
        return (
            "the dump gives objects to roles this role cannot act for: restore as a superuser "
            "(or the role owning every object), or make backups with BACKUP_OWNERSHIP=drop"
        )
    return None
