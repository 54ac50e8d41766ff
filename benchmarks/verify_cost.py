"""Measure what verification and restore cost, at three database sizes, against the bare tools.

For each size (rows in the orders table of ``backup_overhead.py``'s database; by default
about 30 MB, 300 MB and 1.5 GB of SQL) it builds the database in a throwaway PostgreSQL
(the test harness's service), bakes a project, and times (median of N runs at the largest
size, 3N at the smaller ones, whose differences are tenths of a second):

* ``pg_dump > /dev/null`` and the backup (``db-backup.sh`` without ``--verify``);
* what ``--verify`` adds to the backup (``db-backup.sh --verify`` minus ``db-backup.sh``,
  run back to back; the median of those differences, and, less exposed to the spread of
  whole runs, the verify step's own seconds from its JSON log line), with
  ``BACKUP_VERIFY_RESTORE=never``
  (checksum, whole decompression, completeness scan: checks 1-3) against ``gzip -t``, and
  with the test restore (checks 1-4: scratch database created, restored through the
  scanner, rows and objects compared, dropped) against the plain restore
  ``createdb && gunzip -c file | psql -v ON_ERROR_STOP=1 --single-transaction && dropdb``;
* the same checks as a run of their own (``--verify-file``), which also pays for starting
  the tool (interpreter, imports, settings, logging in), against the same bare tools;
* ``db-restore.sh FILE --target=...`` (one pass: checksum, decompression, completeness and
  the load; then the comparison and ``ANALYZE``), against the plain restore and against
  the plain restore followed by ``ANALYZE`` (the same work);

and prints each ratio (every variant runs once per round, so what happens on the machine
meanwhile hits them alike, and every run starts after a checkpoint and ``sync``, so none
pays for the writes of the one before), the peak RSS of the verifying and restoring Python
process at every size, for the largest size the CPU time per process of one db-restore.sh
run, one plain restore, one backup and one ``pg_dump > /dev/null`` (on 2 cores the
backup's compressor competes with the server backend), and, from size to size, how each
cost grows: the marginal ratio (the tool's extra seconds over the bare tool's) and the
fixed seconds left at zero bytes.

Usage: python benchmarks/verify_cost.py [--sizes N,N,N] [--runs N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from backup_overhead import (  # noqa: E402
    DATABASE,
    ROOT,
    Run,
    bake,
    build_database,
    host_environ,
    timed,
)
from process_cpu import cpu_by_process, print_cpu  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.services.postgres import PostgresServer, postgres_service  # noqa: E402

SCRATCH = "bench_plain_restore"
SMALL_SIZE_RUNS = 3  # times --runs below the largest size: short runs spread the most
TOOL_RESTORE = "bench_tool_restore"


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def shell(script: str) -> list[str]:
    return ["bash", "-o", "pipefail", "-c", script]


def settle(server: PostgresServer) -> None:
    """Start a run on a quiet disk: the tool's last restore dropped, a checkpoint, then
    the page cache written out.

    A restore writes its table files and about as much again in WAL; the server's
    checkpoint and the kernel's writeback of that would otherwise land in whichever
    run comes next.
    """
    server.drop_database(TOOL_RESTORE)
    server.psql("CHECKPOINT")
    os.sync()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="150000,1500000,7500000",
        help="rows in the orders table, one database per value (comma-separated)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="runs of each variant at the largest size (median); smaller sizes run 3x as many",
    )
    args = parser.parse_args()
    sizes = [int(value) for value in args.sizes.split(",") if value.strip()]

    summaries = []
    with postgres_service() as server, tempfile.TemporaryDirectory() as scratch:
        project = bake(Path(scratch) / "baked")
        for index, orders in enumerate(sizes):
            work = Path(scratch) / f"size{index}"
            work.mkdir()
            last = index == len(sizes) - 1
            runs = args.runs if last else SMALL_SIZE_RUNS * args.runs
            sql_mib, medians, rss = measure(server, project, work, orders, runs, cpu=last)
            summaries.append((sql_mib, runs, medians, rss))
    print("\n== summary (medians; ratios to the bare tools) ==")
    labels = " ".join(f"{label:>13}" for label, *_ in RATIOS)
    print(f"{'SQL MiB':>8} {'runs':>4} {labels}  peak RSS MiB")
    for sql_mib, runs, medians, rss in summaries:
        cells = " ".join(f"{medians[tool] / medians[bare]:13.2f}" for _, tool, bare, _ in RATIOS)
        print(f"{sql_mib:8.0f} {runs:4d} {cells}  {rss:12.1f}")
    print("; ".join(f"{label}: {meaning}" for label, *_, meaning in RATIOS))
    if len(summaries) > 1:
        print_growth(summaries)


RATIOS = [
    # (label, the tool's median, the bare tool's median, meaning)
    ("backup", "backup", "pg_dump > /dev/null", "db-backup.sh / pg_dump > /dev/null"),
    (
        "verify 1-3",
        "backup --verify, never: added",
        "gzip -t",
        "what --verify, never adds to the backup / gzip -t",
    ),
    (
        "verify 1-4",
        "backup --verify: added",
        "plain restore",
        "what --verify adds to the backup / plain restore",
    ),
    (
        "step 1-3",
        "backup --verify, never: step",
        "gzip -t",
        "the verify step's own seconds (its log line), never / gzip -t",
    ),
    (
        "step 1-4",
        "backup --verify: step",
        "plain restore",
        "the verify step's own seconds, test restore / plain restore",
    ),
    ("checks 1-3", "checks 1-3", "gzip -t", "--verify-file, never / gzip -t"),
    ("checks 1-4", "checks 1-4", "plain restore", "--verify-file, test restore / plain restore"),
    ("restore", "db-restore.sh", "plain restore", "db-restore.sh / plain restore"),
    (
        "restore=work",
        "db-restore.sh",
        "plain restore + ANALYZE",
        "db-restore.sh / plain restore + ANALYZE",
    ),
]


def print_growth(summaries: list[tuple[float, int, dict[str, float], float]]) -> None:
    """Split each cost into a fixed part and a part that grows with the SQL, size to size.

    Between two sizes the tool's extra seconds over the bare tool's extra seconds is the
    marginal ratio r; the fixed seconds are what the tool's line, tool = fixed + r * bare,
    has left at zero bytes (starting the interpreter, logging in, the small queries).
    """
    print("\n== growth between sizes: marginal ratio (fixed seconds) ==")
    labels = " ".join(f"{label:>15}" for label, *_ in RATIOS)
    print(f"{'SQL MiB':>13} {labels}")
    for (mib_a, _, a, _), (mib_b, _, b, _) in itertools.pairwise(summaries):
        cells = []
        for _, tool, bare, _ in RATIOS:
            marginal = (b[tool] - a[tool]) / (b[bare] - a[bare])
            fixed = a[tool] - marginal * a[bare]
            cells.append(f"{marginal:7.2f} ({fixed:+5.2f})")
        print(f"{mib_a:5.0f}->{mib_b:<6.0f} {' '.join(cells)}")


def verify_step_seconds(run: Run) -> float:
    """The seconds the tool's "Backup verification passed" JSON log line reports."""
    for line in run.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("message", "").startswith("Backup verification passed"):
                return float(record["seconds"])
    raise SystemExit(f"no verification line in the tool's log:\n{run.stdout}")


def measure(
    server: PostgresServer, project: Path, work: Path, orders: int, runs: int, *, cpu: bool
) -> tuple[float, dict[str, float], float]:
    """Time every variant on one database size; (MiB of SQL, medians, peak RSS MiB)."""
    gunzip = shutil.which("pigz") or "gzip"
    print(f"\n== {orders} orders: building the database ({server.kind}) ==")
    db_bytes = build_database(server, orders)
    tool = str(project / "scripts" / "db-backup.sh")
    backups = work / "backups"
    env = {
        **host_environ(),
        **server.env(DATABASE),
        "BACKUP_DIR": str(backups),
        "BACKUP_RETENTION_DAILY": "0",
    }
    psql_env = server.psql_env()
    connect = f"-h {server.host} -p {server.port} -U {server.superuser}"
    pg_dump = shlex.join([server.program("pg_dump")]) + f" {connect} --format=plain {DATABASE}"

    # JSON log lines carry the verify step's own seconds to the millisecond.
    never_env = {**env, "BACKUP_VERIFY_RESTORE": "never", "BACKUP_LOG_FORMAT": "json"}
    restore_env = {**env, "BACKUP_VERIFY_RESTORE": "always", "BACKUP_LOG_FORMAT": "json"}
    backup_variants = (
        ("backup --verify, never", [tool, "--verify"], never_env),
        ("backup --verify", [tool, "--verify"], restore_env),
        ("backup", [tool], env),  # last: the first one's file is the one read below
    )
    samples: dict[str, list[float]] = {}
    rss: list[int] = []

    def record(label: str, result: Run) -> None:
        samples.setdefault(label, []).append(result.wall)
        if result.peak_rss_kib:
            rss.append(result.peak_rss_kib)

    def backup_round() -> None:
        settle(server)
        record("pg_dump > /dev/null", timed(shell(f"{pg_dump} > /dev/null"), psql_env))
        for label, command, run_env in backup_variants:
            shutil.rmtree(backups, ignore_errors=True)
            settle(server)
            result = timed(command, run_env, True)
            record(label, result)
            if "--verify" in command:
                samples.setdefault(f"{label}: step", []).append(verify_step_seconds(result))

    backup_round()
    # The file every later variant reads, kept apart from the backups the rounds rewrite.
    kept = work / "kept"
    shutil.copytree(backups, kept)
    (backup,) = sorted(kept.glob("*.sql.gz"))
    quoted = shlex.quote(str(backup))
    sql_bytes = int(
        subprocess.run(
            shell(f"{gunzip} -dc {quoted} | wc -c"), capture_output=True, check=True
        ).stdout
    )
    print(
        f"database {db_bytes / 2**20:.0f} MiB on disk, {sql_bytes / 2**20:.0f} MiB of SQL, "
        f"backup {backup.stat().st_size / 2**20:.1f} MiB"
    )

    verify_file = [tool, "--verify-file", str(backup)]
    createdb = shlex.join([server.program("createdb")]) + f" {connect} {SCRATCH}"
    dropdb = shlex.join([server.program("dropdb")]) + f" {connect} --if-exists {SCRATCH}"
    psql = shlex.join([server.program("psql")]) + f" {connect} -X -q -v ON_ERROR_STOP=1"
    load = f"{createdb} && {gunzip} -dc {quoted} | {psql} --single-transaction -d {SCRATCH}"
    plain_restore = shell(f"{dropdb} && {load} > /dev/null && {dropdb}")
    plain_analyze = shell(
        f"{dropdb} && {load} > /dev/null && {psql} -d {SCRATCH} -c ANALYZE && {dropdb}"
    )
    restore_tool = [str(project / "scripts" / "db-restore.sh"), str(backup)]
    restore_tool.append(f"--target={TOOL_RESTORE}")

    # Every variant in every round, so load from elsewhere hits them all alike.
    for round_ in range(runs):
        if round_:
            backup_round()
        for label, run in (
            ("gzip -t", lambda: timed(["gzip", "-t", str(backup)], psql_env)),
            ("pigz -dc", lambda: timed(shell(f"{gunzip} -dc {quoted} > /dev/null"), psql_env)),
            ("checks 1-3", lambda: timed(verify_file, never_env, True)),
            ("checks 1-4", lambda: timed(verify_file, restore_env, True)),
            ("plain restore", lambda: timed(plain_restore, psql_env)),
            ("plain restore + ANALYZE", lambda: timed(plain_analyze, psql_env)),
            ("db-restore.sh", lambda: timed(restore_tool, env, True)),
        ):
            settle(server)
            record(label, run())
    server.drop_database(TOOL_RESTORE)

    m = {label: median(values) for label, values in samples.items()}
    for label in ("backup --verify, never", "backup --verify"):
        # Each --verify run is paired with the plain backup of the same round.
        added = [a - b for a, b in zip(samples[label], samples["backup"], strict=True)]
        m[f"{label}: added"] = median(added)
    print(f"\n{'':48} {'median s':>9}  runs")
    for label, values in samples.items():
        print(f"{label:<48} {m[label]:9.2f}  {' '.join(f'{x:.2f}' for x in values)}")
    never_added, restore_added = m["backup --verify, never: added"], m["backup --verify: added"]
    print(
        "--verify adds to the backup (median of paired differences): "
        f"never {never_added:.2f} s, with the test restore {restore_added:.2f} s"
    )
    ratios = ", ".join(f"{label} {m[tool] / m[bare]:.2f}" for label, tool, bare, _ in RATIOS)
    print(f"ratios: {ratios}")
    print(
        f"checks 1-3 / pigz -dc > /dev/null: {m['checks 1-3'] / m['pigz -dc']:.2f}; "
        f"peak RSS of the tool's Python process: {max(rss) / 1024:.1f} MiB"
    )
    if cpu:
        # Where the CPU goes in one run of each restore (2 cores: the server backend and
        # psql should be the bottleneck, not the decompressor, the hash or the scan), and in
        # one backup against the dump alone (what compressing costs beside the dump).
        shutil.rmtree(backups, ignore_errors=True)
        for label, command, run_env, database in (
            ("db-restore.sh", restore_tool, env, TOOL_RESTORE),
            ("plain restore", plain_restore, psql_env, SCRATCH),
            ("backup", [tool], env, DATABASE),
            ("pg_dump > /dev/null", shell(f"{pg_dump} > /dev/null"), psql_env, DATABASE),
        ):
            settle(server)
            wall, totals = cpu_by_process(command, run_env, (database,))
            print_cpu(f"{label}, CPU per process", wall, totals)
    server.drop_database(TOOL_RESTORE)
    server.drop_database(DATABASE)
    return sql_bytes / 2**20, m, max(rss) / 1024


if __name__ == "__main__":
    main()
