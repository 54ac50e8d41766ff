"""Wire the backup pieces into the project: .env.example, compose file, .gitignore.

The pieces are staged in ``_backup_fragments/`` rather than shipped under their real
names, because applying the template onto an existing project with
``--overwrite-if-exists`` would replace the project's own files. Each file is created
when absent and otherwise merged by editing its text: every byte of the user's file
stays, a second run changes nothing, and where a safe merge is impossible the file is
left alone and the exact snippet to add is printed. PyYAML (a cookiecutter dependency)
only locates things in the compose file; it never writes it.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ANSWERS: dict[str, Any] = json.loads(r"""{{ cookiecutter | tojson }}""")

FRAGMENTS_DIR = "_backup_fragments"
ENV_MARKER = "# Database Backup Configuration"
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
NEW_COMPOSE_NAME = "compose.yml"
SHIPPED_SCRIPTS = ("scripts/db-backup.sh",)  # only these: the project's own scripts keep their mode
BACKUP_MOUNT = "./backups:/backups"
BACKUP_TARGET = "/backups"
BACKUP_SERVICE = "db-backup"
SERVICE_PLACEHOLDER = "__POSTGRES_SERVICE__"
CONDITION_PLACEHOLDER = "__POSTGRES_CONDITION__"
BREAK = "\r\n\x85\u2028\u2029"  # the characters PyYAML counts as line breaks
LINE = re.compile(rf"[^{BREAK}]*(?:\r\n|[{BREAK}])|[^{BREAK}]+$")
POSTGRES_IMAGE = re.compile(r"(?:^|/)postgres(?:[:@]|$)")
DASH_PREFIX = re.compile(r"( *)-([ \t]+)")


class CannotMerge(Exception):
    """The file cannot be edited safely; the message says why."""


# --- text helpers ---------------------------------------------------------------------


def split_lines(text: str) -> list[str]:
    """Lines with their endings, broken exactly where PyYAML counts line breaks."""
    return LINE.findall(text)


def line_ending(text: str) -> str:
    """The file's own line ending (CRLF or LF), so added lines match their neighbours."""
    return "\r\n" if "\r\n" in text else "\n"


def ends_with_newline(text: str) -> bool:
    """Whether the text's last line is terminated."""
    return text.endswith(tuple(BREAK))


def append_block(text: str, block: str) -> str:
    """Append ``block`` after one blank line, in the file's line ending."""
    eol = line_ending(text)
    block = block.replace("\n", eol)
    if not text.strip():
        return text + block
    if not ends_with_newline(text):
        text += eol
    if split_lines(text)[-1].strip():
        text += eol
    return text + block


def insert_after_line(text: str, line_index: int, new_lines: list[str]) -> str:
    """Insert ``new_lines`` (without endings) after line ``line_index``."""
    eol = line_ending(text)
    lines = split_lines(text)
    if not ends_with_newline(lines[line_index]):
        lines[line_index] += eol
    lines[line_index + 1 : line_index + 1] = [line + eol for line in new_lines]
    return "".join(lines)


# --- .env.example and .gitignore ------------------------------------------------------


def merge_env_example(text: str, block: str) -> str:
    """Append the backup block unless its marker line is already there."""
    if any(line.strip() == ENV_MARKER for line in split_lines(text)):
        return text
    return append_block(text, block)


def ignore_key(line: str) -> str | None:
    """What a .gitignore line ignores, so ``/backups/``, ``backups`` and ``backups/*`` match."""
    pattern = line.strip()
    if not pattern or pattern.startswith(("#", "!")):
        return None
    pattern = pattern.lstrip("/")
    for suffix in ("/**", "/*"):
        pattern = pattern.removesuffix(suffix)
    return pattern.rstrip("/")


def merge_gitignore(text: str, fragment: str) -> str:
    """Append the fragment's patterns that the file does not ignore yet (with its comment)."""
    lines = split_lines(text)
    present = {ignore_key(line) for line in lines} - {None}
    existing = {line.strip() for line in lines}
    wanted = [line for line in fragment.splitlines() if ignore_key(line) not in present]
    if not any(ignore_key(line) for line in wanted):
        return text
    block = [line for line in wanted if ignore_key(line) or line.strip() not in existing]
    return append_block(text, "".join(line + "\n" for line in block))


# --- compose --------------------------------------------------------------------------


def load_root(text: str) -> yaml.MappingNode:
    """Parse the compose text into PyYAML nodes, which carry line and column marks."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "a syntax error"
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CannotMerge(f"it is not valid YAML ({problem}{where})") from error
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        raise CannotMerge("its top level is not a block mapping")
    return root


def entries(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping node's entries by key: key -> (key node, value node)."""
    return {str(key.value): (key, value) for key, value in node.value}


def defined_in_place(text: str, key: yaml.Node, value: yaml.Node) -> bool:
    """Whether ``value`` is written right after ``key`` (not an alias, not anchored)."""
    starts_after_key = value.start_mark.index >= key.end_mark.index
    return starts_after_key and not text.startswith("&", value.start_mark.index)


def block_mapping(text: str, node: yaml.MappingNode, key: str, what: str) -> yaml.MappingNode:
    """The block-style mapping stored under ``key``; CannotMerge otherwise."""
    found = entries(node).get(key)
    if found is None:
        raise CannotMerge(f"it has no {what}")
    key_node, value = found
    if not isinstance(value, yaml.MappingNode) or value.flow_style or not value.value:
        raise CannotMerge(f"its {what} is not a non-empty block mapping")
    if not defined_in_place(text, key_node, value):
        raise CannotMerge(f"its {what} uses a YAML anchor or alias")
    if "<<" in entries(value):
        raise CannotMerge(f"its {what} uses a YAML merge key (<<)")
    return value


def runs_postgres_image(service: yaml.Node) -> bool:
    """Whether a service's ``image`` is the official postgres image (any tag or registry)."""
    if not isinstance(service, yaml.MappingNode) or "image" not in entries(service):
        return False
    image = entries(service)["image"][1]
    return isinstance(image, yaml.ScalarNode) and bool(POSTGRES_IMAGE.search(str(image.value)))


def postgres_service_name(services: yaml.MappingNode) -> str:
    """The service named ``postgres``, else the single service running a postgres image."""
    by_name = entries(services)
    if "postgres" in by_name:
        return "postgres"
    candidates = [name for name, (_, service) in by_name.items() if runs_postgres_image(service)]
    if len(candidates) != 1:
        found = "several services run a postgres image" if candidates else "no postgres service"
        raise CannotMerge(f"it has {found}")
    return candidates[0]


def last_line(node: yaml.Node) -> int:
    """Index of the last line holding the node's content (comments after it excluded)."""
    if isinstance(node, yaml.ScalarNode):
        mark = node.end_mark
        if mark.column == 0 and mark.line > node.start_mark.line:
            return mark.line - 1
        return mark.line
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    if not children:
        return node.end_mark.line
    return max(last_line(child) for child in children)


def last_content_line(text: str, node: yaml.Node) -> int:
    """Like ``last_line``, stepping back over blank lines a block scalar may keep."""
    lines = split_lines(text)
    index = min(last_line(node), len(lines) - 1)
    while index > node.start_mark.line and not lines[index].strip():
        index -= 1
    return index


def mount_targets(item: yaml.Node) -> list[str]:
    """Container paths a volumes entry may name: short ``src:dst[:mode]`` or long syntax."""
    if isinstance(item, yaml.ScalarNode):
        return str(item.value).split(":")[1:]
    if isinstance(item, yaml.MappingNode) and "target" in entries(item):
        return [str(entries(item)["target"][1].value)]
    return []


def mounts_backups(volumes: yaml.SequenceNode) -> bool:
    """Whether some entry already mounts something at /backups."""
    return any(
        target.rstrip("/") == BACKUP_TARGET
        for item in volumes.value
        for target in mount_targets(item)
    )


def indent_of(node: yaml.Node) -> int:
    """Column of a node's first character."""
    return node.start_mark.column


def add_backup_mount(text: str) -> str:
    """Add ``- ./backups:/backups`` to the postgres service's volumes (or add volumes)."""
    root = load_root(text)
    services = block_mapping(text, root, "services", "services section")
    name = postgres_service_name(services)
    service = block_mapping(text, services, name, f"service {name}")
    volumes = entries(service).get("volumes")
    if volumes is None:
        key_indent = indent_of(service.value[0][0])
        step = max(key_indent - indent_of(services.value[0][0]), 1)
        new_lines = [" " * key_indent + "volumes:", " " * (key_indent + step) + f"- {BACKUP_MOUNT}"]
        return insert_after_line(text, last_content_line(text, service), new_lines)
    key_node, sequence = volumes
    if not isinstance(sequence, yaml.SequenceNode) or sequence.flow_style or not sequence.value:
        raise CannotMerge(f"the volumes of service {name} are not a block list")
    if not defined_in_place(text, key_node, sequence):
        raise CannotMerge(f"the volumes of service {name} use a YAML anchor or alias")
    if mounts_backups(sequence):
        return text
    first = sequence.value[0]
    prefix = split_lines(text)[first.start_mark.line][: first.start_mark.column]
    dash = DASH_PREFIX.fullmatch(prefix)
    if dash is None:
        raise CannotMerge(f"the volumes of service {name} are laid out unusually")
    new_line = f"{dash.group(1)}-{dash.group(2)}{BACKUP_MOUNT}"
    return insert_after_line(text, last_content_line(text, sequence), [new_line])


def service_snippet(fragment: str, postgres: str, healthcheck: bool) -> str:
    """The db-backup service text for this project's postgres service."""
    condition = "service_healthy" if healthcheck else "service_started"
    return fragment.replace(SERVICE_PLACEHOLDER, postgres).replace(CONDITION_PLACEHOLDER, condition)


def reindent(snippet: str, base: int, step: int) -> list[str]:
    """Re-indent a 2-space snippet whose top lines sit at 2 spaces to ``base``/``step``."""
    result = []
    for line in snippet.splitlines():
        if not line.strip():
            result.append("")
            continue
        level = (len(line) - len(line.lstrip(" "))) // 2
        result.append(" " * (base + (level - 1) * step) + line.lstrip(" "))
    return result


def add_backup_service(text: str, fragment: str) -> str:
    """Add the db-backup service at the end of ``services`` unless it exists."""
    root = load_root(text)
    services = block_mapping(text, root, "services", "services section")
    if BACKUP_SERVICE in entries(services):
        return text
    name = postgres_service_name(services)
    service = block_mapping(text, services, name, f"service {name}")
    settings = entries(service)
    if "networks" in settings or "network_mode" in settings:
        raise CannotMerge(f"service {name} sets its own networks, which db-backup must share")
    base = indent_of(services.value[0][0])
    step = max(base - indent_of(root.value[0][0]), 1)
    snippet = service_snippet(fragment, name, "healthcheck" in settings)
    lines = reindent(snippet, base, step)
    merged = insert_after_line(text, last_content_line(text, services), lines)
    wanted = yaml.safe_load("services:\n" + snippet)["services"][BACKUP_SERVICE]
    if load_data(merged)["services"].get(BACKUP_SERVICE) != wanted:
        raise CannotMerge("the db-backup service would not come out as written")
    return merged


def load_data(edited: str) -> Any:
    """The data of an edited compose text; CannotMerge when the edit broke the YAML."""
    try:
        return yaml.safe_load(edited)
    except yaml.YAMLError as error:
        raise CannotMerge("the edited text would not be valid YAML") from error


def without_additions(data: Any, before: Any) -> Any:
    """``data`` minus the backup mount and service where ``before`` lacks them."""
    services = dict(data["services"])
    old_services = before["services"]
    if BACKUP_SERVICE not in old_services:
        services.pop(BACKUP_SERVICE, None)
    for name, service in services.items():
        old_service = old_services.get(name)
        old_volumes = old_service.get("volumes") if isinstance(old_service, dict) else None
        if not isinstance(service, dict) or service.get("volumes") == old_volumes:
            continue
        remaining = {key: value for key, value in service.items() if key != "volumes"}
        volumes = [volume for volume in service["volumes"] if volume != BACKUP_MOUNT]
        services[name] = {**remaining, "volumes": volumes} if old_volumes is not None else remaining
    return {**data, "services": services}


def check_merge(before: str, after: str) -> None:
    """Prove the edit only added the backup lines: parse both texts and compare the data."""
    old = yaml.safe_load(before)
    if without_additions(load_data(after), old) != old:
        raise CannotMerge("the edit would change more than the backup lines")


def merge_compose(text: str, service_fragment: str | None) -> str:
    """Add the backups mount and, when ``service_fragment`` is given, the db-backup service."""
    merged = add_backup_mount(text)
    if service_fragment is not None:
        merged = add_backup_service(merged, service_fragment)
    if merged != text:
        check_merge(text, merged)
    return merged


# --- files ----------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """A file's text with its line endings untouched."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise CannotMerge("it is not UTF-8 text") from error


def write_if_changed(path: Path, old: str | None, new: str) -> str:
    """Write ``new`` when it differs from ``old``; say what happened."""
    if new == old:
        return "already up to date"
    path.write_bytes(new.encode("utf-8"))
    return "created" if old is None else "updated"


def wire(path: Path, merge: Callable[[str], str], new_text: str, advice: str) -> None:
    """Create ``path`` from ``new_text`` or merge into it; on failure print ``advice``."""
    try:
        old = read_text(path) if path.exists() else None
        result = write_if_changed(path, old, new_text if old is None else merge(old))
    except CannotMerge as reason:
        print(f"WARNING: {path.name} was left unchanged: {reason}.\n{advice}", file=sys.stderr)
        return
    print(f"{path.name}: {result}")


def find_compose_file(project: Path) -> Path:
    """The compose file docker compose would pick, or the path of a new one."""
    for name in COMPOSE_NAMES:
        if (project / name).is_file():
            return project / name
    return project / NEW_COMPOSE_NAME


def compose_advice(service_fragment: str | None) -> str:
    """The exact lines to add by hand when the compose file cannot be merged."""
    advice = f"Add this line to the volumes of your postgres service:\n      - {BACKUP_MOUNT}\n"
    if service_fragment is not None:
        snippet = service_snippet(service_fragment, "postgres", healthcheck=True)
        advice += f"and this service under services: (adjust the postgres service name)\n{snippet}"
    return advice


def wire_env_example(project: Path, fragments: Path) -> None:
    """Add the backup block to .env.example."""
    block = read_text(fragments / "env.example")
    advice = f"Append this block to .env.example:\n{block}"
    wire(project / ".env.example", lambda old: merge_env_example(old, block), block, advice)


def wire_gitignore(project: Path, fragments: Path) -> None:
    """Keep backups and the backup config (it may hold secrets) out of git."""
    fragment = read_text(fragments / "gitignore")
    advice = f"Add these lines to .gitignore:\n{fragment}"
    wire(project / ".gitignore", lambda old: merge_gitignore(old, fragment), fragment, advice)


def wire_compose(project: Path, fragments: Path, add_service: bool) -> None:
    """Mount ./backups into the postgres service and optionally add the db-backup service."""
    service_fragment = (
        read_text(fragments / "compose-db-backup-service.yml") if add_service else None
    )
    new_file = merge_compose(read_text(fragments / "compose.yml"), service_fragment)
    path = find_compose_file(project)
    advice = compose_advice(service_fragment)
    wire(path, lambda old: merge_compose(old, service_fragment), new_file, advice)


def make_scripts_executable(project: Path) -> None:
    """Give the shipped scripts their run bit wherever they are readable."""
    for name in SHIPPED_SCRIPTS:
        script = project / name
        mode = script.stat().st_mode
        script.chmod(mode | (mode & 0o444) >> 2)


def remove_fragments(project: Path) -> None:
    """Delete the staging folder: its pieces now live in the real files."""
    shutil.rmtree(project / FRAGMENTS_DIR)


def main() -> int:
    """Wire every piece in, then tidy up."""
    project = Path.cwd()
    fragments = project / FRAGMENTS_DIR
    wire_env_example(project, fragments)
    wire_gitignore(project, fragments)
    wire_compose(project, fragments, bool(ANSWERS.get("add_compose_backup_service")))
    make_scripts_executable(project)
    remove_fragments(project)
    return 0


if __name__ == "__main__":
    sys.exit(main())
