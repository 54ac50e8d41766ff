"""The summary printed after a bake or an apply: what changed, what was adopted, what next."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    """Lines gathered while wiring, printed once at the end."""

    project: str
    new_project: bool
    compose: list[str] = field(default_factory=list)
    database: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def render(self) -> str:
        """The summary text: short sections, only those with something to say."""
        what = "new project" if self.new_project else "existing project"
        out = [f"db-backup: backups added to {self.project} ({what})"]
        sections = (
            ("compose files", self.compose),
            ("database", self.database),
            ("files", self.files),
            ("left alone", self.left_alone),
            ("next", self.next_steps),
        )
        for title, lines in sections:
            if lines:
                out.append(f"{title}:")
                out += [f"  {line}" for line in lines]
        return "\n".join(out) + "\n"

    def render_warnings(self) -> str:
        """Each warning as ``WARNING: ...`` (with any indented detail lines after it)."""
        return "".join(f"WARNING: {warning}\n" for warning in self.warnings)
