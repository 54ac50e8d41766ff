"""Add one service to a compose file by editing its text, proven safe by parsing.

PyYAML only locates things (its nodes carry line and column marks); it never writes
the file, so comments, quoting, anchors and layout all stay as the user wrote them.
After the edit both texts are parsed again and compared: the only difference allowed
is the added service, otherwise nothing is written.
"""

from __future__ import annotations

from typing import Any

import yaml

from .text_edit import CannotMerge, insert_after_line, reindent, split_lines

__all__ = ["CannotMerge", "add_service", "load_data", "load_root"]


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


def load_data(text: str) -> Any:
    """The data of a compose text (anchors and ``<<:`` merges resolved)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CannotMerge("it is not valid YAML") from error


def entries(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping node's entries by key: key -> (key node, value node)."""
    return {str(key.value): (key, value) for key, value in node.value}


def services_node(text: str, root: yaml.MappingNode) -> yaml.MappingNode:
    """The top-level ``services`` mapping, written in block style right where it stands."""
    found = entries(root).get("services")
    if found is None:
        raise CannotMerge("it has no services section")
    key, value = found
    if not isinstance(value, yaml.MappingNode) or value.flow_style or not value.value:
        raise CannotMerge("its services section is not a non-empty block mapping")
    starts_after_key = value.start_mark.index >= key.end_mark.index
    if not starts_after_key or text.startswith("&", value.start_mark.index):
        raise CannotMerge("its services section uses a YAML anchor or alias")
    return value


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


def add_service(text: str, name: str, snippet: str) -> str:
    """Append service ``name`` (a 2-space ``snippet`` under ``services:``) to ``services``.

    The snippet is re-indented to the file's own step. Raises ``CannotMerge`` when the
    file cannot be edited safely, when the service would not come out as written, or
    when anything but the new service would change.
    """
    root = load_root(text)
    services = services_node(text, root)
    base = services.value[0][0].start_mark.column
    step = max(base - root.value[0][0].start_mark.column, 1)
    lines = reindent(snippet, base, step)
    merged = insert_after_line(text, last_content_line(text, services), lines)
    before, after = load_data(text), load_data(merged)
    wanted = yaml.safe_load("services:\n" + snippet)["services"][name]
    if not isinstance(after, dict) or after.get("services", {}).get(name) != wanted:
        raise CannotMerge(f"the {name} service would not come out as written")
    remaining = {**after, "services": dict(after["services"])}
    del remaining["services"][name]
    if remaining != before:
        raise CannotMerge("the edit would change more than the added service")
    return merged
