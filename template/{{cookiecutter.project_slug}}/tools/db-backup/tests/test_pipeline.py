"""Pipelines of real (tiny) programs: statuses checked, the right stage blamed, bytes counted."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from db_backup.pipeline import (
    Pipeline,
    PipelineError,
    Stage,
    StageResult,
    describe,
    first_failure,
    run_pipeline,
)

SH = "/bin/sh"


def sh(script: str, name: str = "") -> Stage:
    return Stage([SH, "-c", script], name)


def result(name: str, code: int) -> StageResult:
    return StageResult(name, [name], code)


@pytest.mark.parametrize(
    ("codes", "blamed"),
    [
        ([0, 0], None),
        ([1, 0], "a"),
        ([-signal.SIGPIPE, 2], "b"),  # the reader died: the writer's SIGPIPE is a symptom
        ([141, 1], "b"),
        ([-signal.SIGPIPE, 0], "a"),
        ([1, 2], "a"),
    ],
)
def test_first_failure_blames_the_cause(codes: list[int], blamed: str | None) -> None:
    """The first failure that is not a mere SIGPIPE is blamed."""
    failure = first_failure([result(n, c) for n, c in zip("ab", codes, strict=True)])
    assert (failure.name if failure else None) == blamed


def test_bytes_flow_between_stages_and_out(tmp_path: Path) -> None:
    """The stages are joined by pipes; the last one writes where it is told."""
    target = tmp_path / "out"
    with target.open("wb") as handle:
        run_pipeline([sh("printf 'hello world'"), Stage(["tr", "a-z", "A-Z"])], stdout=handle)
    assert target.read_bytes() == b"HELLO WORLD"


def test_a_failing_stage_is_named_with_its_last_stderr_lines() -> None:
    """The error says which stage failed, how, and what it last said (bounded)."""
    script = "for i in $(seq 1 50); do echo line$i >&2; done; exit 3"
    with pytest.raises(PipelineError) as caught:
        run_pipeline([sh(script, "dumper"), Stage(["cat"])])
    error = caught.value
    assert error.message == "dumper exited with status 3"
    assert error.stderr_tail[-1] == "line50" and len(error.stderr_tail) == 20


def test_a_dead_reader_is_blamed_not_the_writer_it_starved() -> None:
    """When the compressor dies, the writer's SIGPIPE is not reported as the cause."""
    with pytest.raises(PipelineError) as caught:
        run_pipeline([Stage(["yes"]), sh("head -c 10 >/dev/null; echo broke >&2; exit 5", "z")])
    assert caught.value.message == "z exited with status 5"
    assert caught.value.stderr_tail == ["broke"]


def test_a_program_that_cannot_start_is_reported() -> None:
    """A missing program is a PipelineError, not a crash, and nothing is left running."""
    with pytest.raises(PipelineError, match="cannot start"):
        run_pipeline([Stage(["yes"]), Stage(["/nonexistent/program"])])


def test_an_interrupt_while_starting_stops_the_stages_already_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal that lands between two stages' starts must not leave the first one running."""
    real_popen = subprocess.Popen
    started: list[subprocess.Popen[bytes]] = []

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        if started:
            raise KeyboardInterrupt
        started.append(real_popen(*args, **kwargs))  # type: ignore[call-overload]
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", popen)
    with pytest.raises(KeyboardInterrupt), Pipeline([Stage(["sleep", "30"]), Stage(["cat"])]):
        pass
    assert started and started[0].returncode is not None


def test_stdout_bytes_are_counted_without_reading_them() -> None:
    """A stage's stdout size comes from the OS (Linux), excluding what it wrote to stderr."""
    if not Path("/proc/self/io").exists():
        pytest.skip("needs /proc/<pid>/io (Linux)")
    with Pipeline(
        [Stage(["head", "-c", "300000", "/dev/zero"]), Stage(["cat"])], stdout=subprocess.DEVNULL
    ) as pipeline:
        results = pipeline.wait()
    assert results[0].stdout_bytes == 300000


def test_children_are_stopped_when_the_block_fails() -> None:
    """Leaving the block on an exception terminates and reaps every stage."""
    with pytest.raises(RuntimeError), Pipeline([Stage(["sleep", "30"])]) as pipeline:
        procs = list(pipeline._procs)
        raise RuntimeError("boom")
    assert all(proc.returncode is not None for proc in procs)


def test_stderr_lines_reach_the_callback() -> None:
    """pg_dump's verbose chatter can be sent to the debug log line by line."""
    seen: list[tuple[str, str]] = []
    run_pipeline(
        [sh("echo one >&2; echo two >&2", "p")],
        on_stderr_line=lambda stage, line: seen.append((stage, line)),
    )
    assert seen == [("p", "one"), ("p", "two")]


def test_describe_is_shell_like() -> None:
    """The log shows the pipeline the way a shell user would write it."""
    text = describe([Stage(["/usr/bin/pg_dump", "--format=plain"]), Stage(["/usr/bin/pigz", "-3"])])
    assert text == "pg_dump --format=plain | pigz -3"


def test_python_is_not_a_stage_of_its_own() -> None:
    """Sanity: the interpreter running the tests is a real program that can be a stage."""
    run_pipeline([Stage([sys.executable, "-c", "print('x')"])])
