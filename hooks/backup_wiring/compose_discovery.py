"""Find a project's compose files and, in each, the service that runs PostgreSQL.

Compose files are found by the names compose itself reads plus the
``docker-compose.<env>.yml`` family. A service runs PostgreSQL when its image (or the
``FROM`` of the Dockerfile it builds) is one of the PostgreSQL images, whatever the
service is called; services are read as data, so YAML anchors and ``<<:`` merges count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .env_text import interpolate
from .text_edit import CannotMerge

DEFAULT_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
FAMILY = re.compile(r"(?:docker-)?compose(?:\.[A-Za-z0-9][A-Za-z0-9_.-]*)?\.ya?ml")
# Images whose server is PostgreSQL and whose settings are the official image's POSTGRES_*.
POSTGRES_REPOSITORIES = frozenset(
    {
        "postgres",
        "postgis/postgis",
        "timescale/timescaledb",
        "timescale/timescaledb-ha",
        "pgvector/pgvector",
    }
)
PREFERRED_NAMES = ("postgres", "db", "database", "postgresql", "pg")
BACKUPS_TARGET = "/backups"


def compose_files(project: Path) -> list[Path]:
    """Compose files in the project folder: compose's default names first, then the rest."""
    found = {p.name for p in project.iterdir() if p.is_file() and FAMILY.fullmatch(p.name)}
    defaults = [name for name in DEFAULT_NAMES if name in found]
    return [project / name for name in (*defaults, *sorted(found - set(defaults)))]


def uses_default_name(path: Path) -> bool:
    """Whether plain ``docker compose`` reads this file (no ``-f`` needed)."""
    stem_names = (*DEFAULT_NAMES, *(n.replace(".y", ".override.y") for n in DEFAULT_NAMES))
    return path.name in stem_names


# --- images ---------------------------------------------------------------------------


def split_reference(reference: str) -> tuple[str, str]:
    """``docker.io/library/postgres:16-alpine`` -> (``postgres``, ``16-alpine``)."""
    name = reference.split("@", 1)[0]
    tag = ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts[:1] == ["library"]:
        parts = parts[1:]
    return "/".join(parts).lower(), tag


def is_postgres_image(reference: str) -> bool:
    """Whether an image reference names one of the PostgreSQL images."""
    return split_reference(reference)[0] in POSTGRES_REPOSITORIES


def major_of(reference: str) -> int | None:
    """The PostgreSQL major a tag names: ``18``, ``16.4-alpine``, ``16-3.4``, ``2.14-pg16``."""
    tag = split_reference(reference)[1]
    match = re.search(r"(?:^|[-_.])pg(\d+)", tag) or re.match(r"(\d+)(?:[.-]|$)", tag)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class ServerImage:
    """The PostgreSQL image a service runs, where that was read, and its major version."""

    reference: str
    dockerfile: str | None  # project-relative Dockerfile when the image is built
    major: int | None

    def describe(self) -> str:
        if self.dockerfile:
            return f"{self.dockerfile} (FROM {self.reference})"
        return f"image {self.reference}"


def logical_lines(text: str) -> list[str]:
    """A Dockerfile's instructions: comments dropped, ``\\`` continuations joined."""
    lines, current = [], ""
    for raw in text.splitlines():
        if not current and raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    if current:
        lines.append(current)
    return lines


def dockerfile_base(text: str) -> str | None:
    """The image the final stage of a Dockerfile starts from (stage aliases followed)."""
    args: dict[str, str] = {}
    stages: list[tuple[str, str | None]] = []
    for line in logical_lines(text):
        words = line.split()
        if not words:
            continue
        instruction = words[0].upper()
        if instruction == "ARG" and not stages and len(words) > 1:
            name, _, default = words[1].partition("=")
            args[name] = default.strip("\"'")
        elif instruction == "FROM":
            tokens = [word for word in words[1:] if not word.startswith("--")]
            if not tokens:
                continue
            image = interpolate(tokens[0], args) or tokens[0]
            has_alias = len(tokens) >= 3 and tokens[1].lower() == "as"
            stages.append((image, tokens[2].lower() if has_alias else None))
    if not stages:
        return None
    aliases = {alias: image for image, alias in stages if alias}
    image, seen = stages[-1][0], set()
    while image.lower() in aliases and image.lower() not in seen:
        seen.add(image.lower())
        image = aliases[image.lower()]
    return image


def built_dockerfile(project: Path, build: Any) -> tuple[str, str] | None:
    """(project-relative path, text) of the Dockerfile a ``build:`` entry uses."""
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    elif isinstance(build, dict):
        context = str(build.get("context", "."))
        if isinstance(build.get("dockerfile_inline"), str):
            return "(inline Dockerfile)", build["dockerfile_inline"]
        dockerfile = str(build.get("dockerfile", "Dockerfile"))
    else:
        return None
    if "://" in context or context.startswith("git@"):
        return None
    path = (project / context / dockerfile).resolve()
    try:
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(project.resolve()).as_posix()
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return relative, text


def server_image(project: Path, service: Any, variables: Mapping[str, str]) -> ServerImage | None:
    """The PostgreSQL image a service runs, or None when it runs something else."""
    if not isinstance(service, dict):
        return None
    found = built_dockerfile(project, service.get("build"))
    if found is not None:
        dockerfile, text = found
        base = dockerfile_base(text)
        if base is not None and is_postgres_image(base):
            return ServerImage(base, dockerfile, major_of(base))
    image = service.get("image")
    if not isinstance(image, str):
        return None
    resolved = interpolate(image, variables)
    shown = resolved if resolved is not None else image
    if not is_postgres_image(interpolate(image, {}) or re.sub(r"\$\{[^}]*\}", "", image)):
        return None
    return ServerImage(shown, None, major_of(resolved) if resolved is not None else None)


# --- the database service -------------------------------------------------------------


@dataclass(frozen=True)
class EnvFile:
    """One ``env_file:`` entry of the database service."""

    path: str
    required: bool = True

    @property
    def relative(self) -> str:
        """The path relative to the project root, as the backup tool's settings name it."""
        return Path(self.path).as_posix().removeprefix("./")


@dataclass(frozen=True)
class DatabaseService:
    """What the backup service must copy from the service that runs PostgreSQL."""

    name: str
    server: ServerImage
    env_files: tuple[EnvFile, ...] = ()
    environment: tuple[tuple[str, str | None], ...] = ()
    networks: tuple[str, ...] = ()
    network_mode: str | None = None
    backups_volume: str | None = None
    healthcheck: bool = False
    secrets: tuple[str, ...] = ()

    def setting(self, name: str) -> str | None:
        """The value the service's ``environment:`` gives ``name`` (as written)."""
        return dict(self.environment).get(name)


def env_file_entries(value: Any) -> tuple[EnvFile, ...]:
    """``env_file:`` in any of its forms: a path, a list of paths or of ``{path, required}``."""
    items = value if isinstance(value, list) else [value] if value is not None else []
    found = []
    for item in items:
        if isinstance(item, str):
            found.append(EnvFile(item))
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            found.append(EnvFile(item["path"], item.get("required", True) is not False))
    return tuple(found)


def environment_entries(value: Any) -> tuple[tuple[str, str | None], ...]:
    """``environment:`` as (name, value) pairs; a bare name (passed through) has None."""
    if isinstance(value, dict):
        return tuple(
            (str(k), None if v is None else str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in value.items()
        )
    pairs: list[tuple[str, str | None]] = []
    for item in value if isinstance(value, list) else []:
        name, equals, setting = str(item).partition("=")
        pairs.append((name, setting if equals else None))
    return tuple(pairs)


def names_of(value: Any) -> tuple[str, ...]:
    """Names from a list, or the keys of a mapping (``networks:``, ``secrets:``)."""
    if isinstance(value, dict):
        return tuple(str(key) for key in value)
    if isinstance(value, list):
        return tuple(
            str(item["source"] if isinstance(item, dict) else item)
            for item in value
            if isinstance(item, str) or (isinstance(item, dict) and "source" in item)
        )
    return ()


def backups_source(volumes: Any) -> str | None:
    """The source mounted at /backups by a service's volumes (short or long syntax)."""
    for item in volumes if isinstance(volumes, list) else []:
        if isinstance(item, str):
            parts = item.split(":")
            if len(parts) >= 2 and parts[1].rstrip("/") == BACKUPS_TARGET:
                return parts[0]
        elif isinstance(item, dict) and str(item.get("target", "")).rstrip("/") == BACKUPS_TARGET:
            return str(item.get("source", "")) or None
    return None


def describe_service(name: str, service: dict[str, Any], server: ServerImage) -> DatabaseService:
    """The parts of a PostgreSQL service that the backup service reuses."""
    network_mode = service.get("network_mode")
    return DatabaseService(
        name=name,
        server=server,
        env_files=env_file_entries(service.get("env_file")),
        environment=environment_entries(service.get("environment")),
        networks=names_of(service.get("networks")),
        network_mode=str(network_mode) if network_mode is not None else None,
        backups_volume=backups_source(service.get("volumes")),
        healthcheck="healthcheck" in service and not _healthcheck_disabled(service),
        secrets=names_of(service.get("secrets")),
    )


def _healthcheck_disabled(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck")
    return isinstance(check, dict) and check.get("disable") is True


def find_database_service(
    project: Path, data: Any, variables: Mapping[str, str], preferred: str = ""
) -> DatabaseService | None:
    """The service of one compose file that runs PostgreSQL, or None when it has none.

    ``preferred`` (the ``postgres_service`` answer) picks one by name. Several PostgreSQL
    services and no way to tell which is meant raise ``CannotMerge`` naming them.
    """
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return None
    found = {
        name: image
        for name, service in services.items()
        if (image := server_image(project, service, variables)) is not None
    }
    if preferred and isinstance(services.get(preferred), dict):
        server = found.get(preferred) or ServerImage(
            str(services[preferred].get("image", "unknown image")), None, None
        )
        return describe_service(preferred, services[preferred], server)
    if not found:
        return None
    if len(found) > 1:
        named = [name for name in PREFERRED_NAMES if name in found]
        if not named:
            listed = ", ".join(sorted(found))
            raise CannotMerge(
                f"several services run PostgreSQL ({listed}); "
                "answer postgres_service=<name> to choose the one to back up"
            )
        found = {named[0]: found[named[0]]}
    (name, server), *_ = found.items()
    return describe_service(name, services[name], server)
