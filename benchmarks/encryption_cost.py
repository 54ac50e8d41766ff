"""Measure what age encryption costs: the encrypted backup and its verify against plain ones.

Builds the same database as ``backup_overhead.py`` in a throwaway PostgreSQL (the test
harness's service), bakes a project, makes an age key with ``age-keygen``, then times
(median of N runs, plain and encrypted runs alternating so both see the same machine):

* backup: ``db-backup.sh`` without ``--verify``, plain (``.sql.gz``) and with
  ``BACKUP_AGE_RECIPIENTS`` (``.sql.gz.age``: ``pg_dump | pigz | age``)
* ``--verify-file`` of each with the test restore (``BACKUP_VERIFY_RESTORE=always``; the
  encrypted one with ``BACKUP_AGE_IDENTITY_FILE``: ``age -d`` before the decompressor)
* ``--verify-file`` of each without the test restore (checks 1-3: checksum, decryption,
  decompression, completeness)

and prints each encrypted figure against the plain one, plus the peak RSS of the verifying
Python process.

Usage: python benchmarks/encryption_cost.py [--orders N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from backup_overhead import DATABASE, bake, build_database, timed  # noqa: E402

sys.path.insert(0, str(HERE.parent))
from tests.services.postgres import postgres_service  # noqa: E402


def age_key(directory: Path) -> tuple[Path, str]:
    """A new age identity file and its recipient."""
    identity = directory / "key.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(
        ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return identity, recipient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500_000, help="rows in the orders table")
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant (median)")
    args = parser.parse_args()
    if shutil.which("age") is None:
        raise SystemExit("needs the age CLI: apt-get install age")

    with postgres_service() as server, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        print(f"building {args.orders} orders in a throwaway PostgreSQL ({server.kind})...")
        db_bytes = build_database(server, args.orders)
        project = bake(work / "baked")
        tool = str(project / "scripts" / "db-backup.sh")
        identity, recipient = age_key(work)
        base = {**os.environ, **server.env(DATABASE), "BACKUP_RETENTION_DAILY": "0"}
        plain_env = {**base, "BACKUP_DIR": str(work / "plain")}
        sealed_env = {
            **base,
            "BACKUP_DIR": str(work / "sealed"),
            "BACKUP_AGE_RECIPIENTS": recipient,
        }

        backup_runs: dict[str, list[float]] = {"plain": [], "sealed": []}
        for _ in range(args.runs):
            for kind, env in (("plain", plain_env), ("sealed", sealed_env)):
                shutil.rmtree(env["BACKUP_DIR"], ignore_errors=True)
                backup_runs[kind].append(timed([tool], env).wall)
        (plain,) = sorted((work / "plain").glob("*.sql.gz"))
        (sealed,) = sorted((work / "sealed").glob("*.sql.gz.age"))
        print(
            f"database {db_bytes / 2**20:.0f} MiB, backup {plain.stat().st_size / 2**20:.2f} MiB "
            f"plain, {sealed.stat().st_size / 2**20:.2f} MiB encrypted"
        )

        verify_runs: dict[str, list[float]] = {}
        peak_rss: dict[str, int] = {}
        for mode in ("always", "never"):
            for kind, backup, env in (("plain", plain, plain_env), ("sealed", sealed, sealed_env)):
                env = {
                    **env,
                    "BACKUP_VERIFY_RESTORE": mode,
                    "BACKUP_AGE_IDENTITY_FILE": str(identity),
                }
                key = f"{kind} {mode}"
                runs = [
                    timed([tool, "--verify-file", str(backup)], env, True) for _ in range(args.runs)
                ]
                verify_runs[key] = [run.wall for run in runs]
                peak_rss[key] = max(run.peak_rss_kib for run in runs)

        rows = [
            ("backup (no --verify)", backup_runs["plain"], backup_runs["sealed"]),
            (
                "--verify-file with the test restore",
                verify_runs["plain always"],
                verify_runs["sealed always"],
            ),
            (
                "--verify-file checks 1-3 (no test restore)",
                verify_runs["plain never"],
                verify_runs["sealed never"],
            ),
        ]
        print(f"\n{'':44} {'plain s':>9} {'encrypted s':>12} {'ratio':>7}")
        for label, plain_runs, sealed_runs in rows:
            p, s = statistics.median(plain_runs), statistics.median(sealed_runs)
            print(f"{label:<44} {p:9.2f} {s:12.2f} {s / p:7.3f}")
        print(
            "\npeak RSS of the verifying Python process (MiB): "
            + ", ".join(f"{key} {kib / 1024:.1f}" for key, kib in peak_rss.items())
        )
        print(
            "runs: "
            + "; ".join(
                f"{label}: plain {[round(x, 2) for x in p]} encrypted {[round(x, 2) for x in s]}"
                for label, p, s in rows
            )
        )
        server.drop_database(DATABASE)


if __name__ == "__main__":
    main()
