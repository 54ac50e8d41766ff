"""Measure what verification costs: against the backup itself and against a plain restore.

Builds the same database as ``backup_overhead.py`` in a throwaway PostgreSQL (the test
harness's service), bakes a project, makes one backup, then times (median of N runs):

* backup: ``db-backup.sh`` without ``--verify``
* ``--verify-file`` with ``BACKUP_VERIFY_RESTORE=never``: checksum, whole decompression,
  completeness scan (checks 1-3)
* ``--verify-file`` with the test restore (checks 1-4: scratch database created, restored
  through the scanner, rows and objects compared, dropped)
* plain restore: ``createdb && gunzip -c file | psql -v ON_ERROR_STOP=1 --single-transaction``
  ``&& dropdb``, the operator's restore the test restore is compared with
* ``gunzip -c file > /dev/null``: decompression alone
* ``db-restore.sh FILE --target=...``: the restore command (one pass: checksum,
  decompression, completeness and the load; then the comparison and ``ANALYZE``)

and prints each against the backup and against the plain restore, plus the peak RSS of
the verifying Python process, and the CPU time per process of one db-restore.sh run and
one plain restore.

Usage: python benchmarks/verify_cost.py [--orders N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from backup_overhead import (  # noqa: E402
    DATABASE,
    ROOT,
    bake,
    build_database,
    host_environ,
    timed,
)
from process_cpu import cpu_by_process, print_cpu  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.services.postgres import postgres_service  # noqa: E402

SCRATCH = "bench_plain_restore"
TOOL_RESTORE = "bench_tool_restore"


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def shell(script: str) -> list[str]:
    return ["bash", "-o", "pipefail", "-c", script]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500_000, help="rows in the orders table")
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant (median)")
    args = parser.parse_args()
    gunzip = shutil.which("pigz") or "gzip"

    with postgres_service() as server, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        print(f"building {args.orders} orders in a throwaway PostgreSQL ({server.kind})...")
        db_bytes = build_database(server, args.orders)
        project = bake(work / "baked")
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

        backup_runs = []
        for _ in range(args.runs):
            shutil.rmtree(backups, ignore_errors=True)
            backup_runs.append(timed([tool], env).wall)
        (backup,) = sorted(backups.glob("*.sql.gz"))
        size = backup.stat().st_size
        print(f"database {db_bytes / 2**20:.0f} MiB, backup {size / 2**20:.1f} MiB")

        never_env = {**env, "BACKUP_VERIFY_RESTORE": "never"}
        restore_env = {**env, "BACKUP_VERIFY_RESTORE": "always"}
        verify_file = [tool, "--verify-file", str(backup)]
        never_runs = [timed(verify_file, never_env, True) for _ in range(args.runs)]
        checks_1_3 = [run.wall for run in never_runs]
        rss_1_3 = [run.peak_rss_kib for run in never_runs]
        restore_runs = [timed(verify_file, restore_env, True) for _ in range(args.runs)]
        checks_1_4 = [run.wall for run in restore_runs]
        rss_1_4 = [run.peak_rss_kib for run in restore_runs]
        createdb = shlex.join([server.program("createdb")]) + f" {connect} {SCRATCH}"
        dropdb = shlex.join([server.program("dropdb")]) + f" {connect} --if-exists {SCRATCH}"
        psql = shlex.join([server.program("psql")])
        plain_restore = shell(
            f"{dropdb} && {createdb} && {gunzip} -dc {shlex.quote(str(backup))} | "
            f"{psql} {connect} -X -q -v ON_ERROR_STOP=1 --single-transaction -d {SCRATCH} "
            f"> /dev/null && {dropdb}"
        )
        plain = [timed(plain_restore, psql_env).wall for _ in range(args.runs)]
        decompress = [
            timed(shell(f"{gunzip} -dc {shlex.quote(str(backup))} > /dev/null"), psql_env).wall
            for _ in range(args.runs)
        ]
        restore_tool = [str(project / "scripts" / "db-restore.sh"), str(backup)]
        restore_tool.append(f"--target={TOOL_RESTORE}")
        tool_runs = []
        for _ in range(args.runs):
            server.drop_database(TOOL_RESTORE)
            tool_runs.append(timed(restore_tool, env, True))
        server.drop_database(TOOL_RESTORE)
        restored = [run.wall for run in tool_runs]

        b, v3, v4, p = median(backup_runs), median(checks_1_3), median(checks_1_4), median(plain)
        print(f"\n{'':44} {'median s':>9} {'/ backup':>9} {'/ plain restore':>16}")
        rows = [
            ("backup (db-backup.sh, no --verify)", b),
            ("verify checks 1-3 (BACKUP_VERIFY_RESTORE=never)", v3),
            ("verify checks 1-4 (with the test restore)", v4),
            ("plain restore: createdb, gunzip | psql, dropdb", p),
            ("db-restore.sh (checks, restore, compare, ANALYZE)", median(restored)),
            (f"{os.path.basename(gunzip)} -dc > /dev/null", median(decompress)),
        ]
        for label, seconds in rows:
            print(f"{label:<48} {seconds:9.2f} {seconds / b:9.2f} {seconds / p:16.2f}")
        print(
            f"\npeak RSS of the verifying Python process: checks 1-3 {max(rss_1_3) / 1024:.1f} "
            f"MiB, checks 1-4 {max(rss_1_4) / 1024:.1f} MiB, db-restore.sh "
            f"{max(run.peak_rss_kib for run in tool_runs) / 1024:.1f} MiB"
        )
        print(
            f"runs: backup {[round(x, 2) for x in backup_runs]}, checks 1-3 "
            f"{[round(x, 2) for x in checks_1_3]}, checks 1-4 {[round(x, 2) for x in checks_1_4]}, "
            f"plain restore {[round(x, 2) for x in plain]}, db-restore.sh "
            f"{[round(x, 2) for x in restored]}"
        )
        # Where the CPU goes in one run of each restore (2 cores: the server backend and
        # psql should be the bottleneck, not the decompressor, the hash or the scan).
        server.drop_database(TOOL_RESTORE)
        wall, totals = cpu_by_process(restore_tool, env, (TOOL_RESTORE,))
        print_cpu("db-restore.sh, CPU per process", wall, totals)
        server.drop_database(TOOL_RESTORE)
        wall, totals = cpu_by_process(plain_restore, psql_env, (SCRATCH,))
        print_cpu("plain restore, CPU per process", wall, totals)
        server.drop_database(DATABASE)


if __name__ == "__main__":
    main()
