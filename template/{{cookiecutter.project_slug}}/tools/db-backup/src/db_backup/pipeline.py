"""Run programs joined by OS pipes, check every exit status, keep each stage's last stderr lines.

``pg_dump | pigz`` runs as two processes whose pipe the kernel carries: the
parent closes its copy of each inter-stage pipe, so no byte passes through
Python unless the caller reads the last stage's stdout. A thread per stage
drains stderr into a bounded deque (and an optional callback for debug
logging), so a chatty stage never blocks and memory stays flat. A failing
stage is reported with its status and last stderr lines; a stage that died of
SIGPIPE only because a later one failed is not blamed.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

from .children import child_options

TAIL_LINES = 20
PIPE_SIZE = 1 << 20  # larger pipes mean fewer wake-ups; best effort (Linux only)
TERMINATE_GRACE_SECONDS = 5.0

StderrCallback = Callable[[str, str], None]  # (stage name, line)


@dataclass(frozen=True)
class Stage:
    """One program of a pipeline."""

    argv: Sequence[str]
    name: str = ""
    env: Mapping[str, str] | None = None  # None: the pipeline's environment

    @property
    def label(self) -> str:
        """The name used in messages: ``name`` or the program's base name."""
        return self.name or os.path.basename(self.argv[0])


@dataclass
class StageResult:
    """How one stage ended."""

    name: str
    argv: Sequence[str]
    returncode: int
    stderr_tail: list[str] = field(default_factory=list)
    stderr_bytes: int = 0
    written_bytes: int | None = None  # wchar from /proc/<pid>/io, when the OS tells

    @property
    def ok(self) -> bool:
        """Whether the stage exited with status 0."""
        return self.returncode == 0

    @property
    def died_of_sigpipe(self) -> bool:
        """Killed because its reader went away: a symptom, not a cause."""
        return self.returncode in (-signal.SIGPIPE, 128 + signal.SIGPIPE)

    @property
    def stdout_bytes(self) -> int | None:
        """Bytes written to stdout: everything written minus what went to stderr."""
        if self.written_bytes is None:
            return None
        return max(0, self.written_bytes - self.stderr_bytes)

    def status(self) -> str:
        """``exited with status 1`` or ``was killed by SIGKILL``."""
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"was killed by {name}"
        return f"exited with status {self.returncode}"


class PipelineError(Exception):
    """A stage failed (or could not start); ``failed`` is the stage to blame."""

    def __init__(self, message: str, failed: StageResult | None, results: list[StageResult]):
        super().__init__(message)
        self.message = message
        self.failed = failed
        self.results = results

    @property
    def stderr_tail(self) -> list[str]:
        """The blamed stage's last stderr lines."""
        return list(self.failed.stderr_tail) if self.failed else []


def first_failure(results: Sequence[StageResult]) -> StageResult | None:
    """The stage to blame: the first failure that is not a mere SIGPIPE, else the first one."""
    failures = [r for r in results if not r.ok]
    causes = [r for r in failures if not r.died_of_sigpipe]
    if causes:
        return causes[0]
    return failures[0] if failures else None


def describe(stages: Sequence[Stage]) -> str:
    """A shell-like rendering for logs: ``pg_dump --format=plain | pigz -p 2 -3``."""
    return " | ".join(shlex.join([os.path.basename(s.argv[0]), *s.argv[1:]]) for s in stages)


class Pipeline:
    """Start stages joined by pipes; use as a context manager so children never outlive it.

    Leaving the ``with`` block on an exception terminates every stage still
    running (SIGTERM, then SIGKILL after a grace period) and reaps them.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        env: Mapping[str, str] | None = None,
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = subprocess.PIPE,
        on_stderr_line: StderrCallback | None = None,
        tail_lines: int = TAIL_LINES,
    ):
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        self.stages = list(stages)
        self._env = dict(env) if env is not None else None
        self._stdin = stdin
        self._stdout = stdout
        self._on_line = on_stderr_line
        self._tail_lines = tail_lines
        self._procs: list[subprocess.Popen[bytes]] = []
        self._tails: list[collections.deque[str]] = []
        self._stderr_bytes: list[list[int]] = []
        self._threads: list[threading.Thread] = []
        self._written: dict[int, int | None] = {}
        self.results: list[StageResult] | None = None

    def __enter__(self) -> Pipeline:
        try:
            self.start()
        except BaseException:  # e.g. SIGTERM between two stages: __exit__ will not run
            self.terminate()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None or self.results is None:
            self.terminate()

    @property
    def stdout(self) -> IO[bytes]:
        """The last stage's stdout (when the pipeline was made with ``stdout=PIPE``)."""
        out = self._procs[-1].stdout
        if out is None:
            raise RuntimeError("the pipeline's stdout is not a pipe")
        return out

    def describe(self) -> str:
        """A shell-like rendering of the pipeline for logs."""
        return describe(self.stages)

    def start(self) -> None:
        """Start every stage; if one cannot start, stop the others and raise ``PipelineError``."""
        previous: IO[bytes] | None = None
        last = len(self.stages) - 1
        for index, stage in enumerate(self.stages):
            stdin = self._stdin if index == 0 else previous
            stdout = self._stdout if index == last else subprocess.PIPE
            try:
                proc = subprocess.Popen(
                    list(stage.argv),
                    stdin=stdin,
                    stdout=stdout,
                    stderr=subprocess.PIPE,
                    env=dict(stage.env) if stage.env is not None else self._env,
                    **child_options(),
                )
            except OSError as exc:
                if previous is not None:
                    previous.close()
                self.terminate()
                reason = exc.strerror or str(exc)
                raise PipelineError(f"cannot start {stage.label}: {reason}", None, []) from exc
            if previous is not None:
                previous.close()  # the parent's copy: EOF and SIGPIPE must reach the stages
            if index != last and proc.stdout is not None:
                grow_pipe(proc.stdout.fileno())
            previous = proc.stdout if index != last else None
            self._procs.append(proc)
            self._watch_stderr(stage, proc)

    def _watch_stderr(self, stage: Stage, proc: subprocess.Popen[bytes]) -> None:
        tail: collections.deque[str] = collections.deque(maxlen=self._tail_lines)
        counter = [0]
        self._tails.append(tail)
        self._stderr_bytes.append(counter)
        assert proc.stderr is not None
        thread = threading.Thread(
            target=_drain,
            args=(proc.stderr, stage.label, tail, counter, self._on_line),
            name=f"stderr-{stage.label}",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)

    def wait(self) -> list[StageResult]:
        """Wait for every stage and return their results (no exception on failure)."""
        results = []
        for index, proc in enumerate(self._procs):
            written = _written_bytes_at_exit(proc)
            returncode = proc.wait()
            self._threads[index].join(timeout=10)
            results.append(
                StageResult(
                    name=self.stages[index].label,
                    argv=list(self.stages[index].argv),
                    returncode=returncode,
                    stderr_tail=list(self._tails[index]),
                    stderr_bytes=self._stderr_bytes[index][0],
                    written_bytes=written,
                )
            )
        self.results = results
        return results

    def check(self) -> list[StageResult]:
        """Wait, then raise ``PipelineError`` naming the stage to blame if any failed."""
        results = self.results if self.results is not None else self.wait()
        failed = first_failure(results)
        if failed is not None:
            raise PipelineError(f"{failed.name} {failed.status()}", failed, results)
        return results

    def terminate(self, grace: float = TERMINATE_GRACE_SECONDS) -> None:
        """Stop every stage still running (SIGTERM, then SIGKILL) and reap them all."""
        stop_processes(self._procs, grace)
        for proc in self._procs:
            for stream in (proc.stdout, proc.stdin):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        for thread in self._threads:
            thread.join(timeout=2)


def stop_processes(
    procs: Sequence[subprocess.Popen[bytes]], grace: float = TERMINATE_GRACE_SECONDS
) -> None:
    """SIGTERM every process still running, SIGKILL those alive after ``grace``; reap all."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()


def run_pipeline(
    stages: Sequence[Stage],
    *,
    env: Mapping[str, str] | None = None,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    on_stderr_line: StderrCallback | None = None,
) -> list[StageResult]:
    """Run a pipeline to the end; ``PipelineError`` if any stage failed."""
    with Pipeline(
        stages, env=env, stdin=stdin, stdout=stdout, on_stderr_line=on_stderr_line
    ) as pipeline:
        pipeline.wait()
        return pipeline.check()


def _drain(
    stream: IO[bytes],
    name: str,
    tail: collections.deque[str],
    counter: list[int],
    on_line: StderrCallback | None,
) -> None:
    """Read a stage's stderr to EOF, keeping only the last lines."""
    with contextlib.suppress(OSError, ValueError):
        for raw in stream:
            counter[0] += len(raw)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(line)
            if on_line is not None:
                with contextlib.suppress(Exception):
                    on_line(name, line)
    with contextlib.suppress(OSError):
        stream.close()


def grow_pipe(fd: int) -> None:
    """Enlarge a pipe to 1 MiB where the OS allows: fewer wake-ups per byte (Linux)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, PIPE_SIZE)


def _written_bytes_at_exit(proc: subprocess.Popen[bytes]) -> int | None:
    """Wait for ``proc`` to exit without reaping it, then read its write count (Linux).

    A process that has exited but is not yet reaped keeps its ``/proc/<pid>/io``,
    which holds the exact number of bytes it wrote: a free byte counter.
    """
    waitid = getattr(os, "waitid", None)
    if waitid is None or not os.path.exists(f"/proc/{proc.pid}/io") or proc.returncode is not None:
        return None
    try:
        waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        with open(f"/proc/{proc.pid}/io", encoding="ascii") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key == "wchar":
                    return int(value)
    except (OSError, ValueError):
        return None
    return None
