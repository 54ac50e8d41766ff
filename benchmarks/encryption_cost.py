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

and prints each encrypted figure against the plain one, in wall-clock seconds and in CPU
seconds of every process the run started (less sensitive to a busy machine), plus the
peak RSS of the verifying Python process.

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

from backup_overhead import DATABASE, Run, bake, build_database, timed  # noqa: E402

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

        runs: dict[str, list[Run]] = {}

        def record(key: str, run: Run) -> None:
            runs.setdefault(key, []).append(run)

        for _ in range(args.runs):
            for kind, env in (("plain", plain_env), ("sealed", sealed_env)):
                shutil.rmtree(env["BACKUP_DIR"], ignore_errors=True)
                record(f"{kind} backup", timed([tool], env))
        (plain,) = sorted((work / "plain").glob("*.sql.gz"))
        (sealed,) = sorted((work / "sealed").glob("*.sql.gz.age"))
        print(
            f"database {db_bytes / 2**20:.0f} MiB, backup {plain.stat().st_size / 2**20:.2f} MiB "
            f"plain, {sealed.stat().st_size / 2**20:.2f} MiB encrypted"
        )
        for mode in ("always", "never"):
            for _ in range(args.runs):
                for kind, backup, env in (
                    ("plain", plain, plain_env),
                    ("sealed", sealed, sealed_env),
                ):
                    env = {
                        **env,
                        "BACKUP_VERIFY_RESTORE": mode,
                        "BACKUP_AGE_IDENTITY_FILE": str(identity),
                    }
                    record(f"{kind} {mode}", timed([tool, "--verify-file", str(backup)], env, True))

        rows = [
            ("backup (no --verify)", "backup"),
            ("--verify-file with the test restore", "always"),
            ("--verify-file checks 1-3 (no test restore)", "never"),
        ]
        print(
            f"\n{'':44} {'plain s':>8} {'encr. s':>8} {'ratio':>6}"
            f" {'plain cpu':>10} {'encr. cpu':>10} {'ratio':>6}"
        )
        for label, key in rows:
            plain_runs, sealed_runs = runs[f"plain {key}"], runs[f"sealed {key}"]
            p = statistics.median(r.wall for r in plain_runs)
            e = statistics.median(r.wall for r in sealed_runs)
            pc = statistics.median(r.cpu for r in plain_runs)
            ec = statistics.median(r.cpu for r in sealed_runs)
            print(
                f"{label:<44} {p:8.2f} {e:8.2f} {e / p:6.3f} {pc:10.2f} {ec:10.2f} {ec / pc:6.3f}"
            )
        print(
            "\npeak RSS of the verifying Python process (MiB): "
            + ", ".join(
                f"{key} {max(r.peak_rss_kib for r in found) / 1024:.1f}"
                for key, found in runs.items()
                if "backup" not in key
            )
        )
        print(
            "wall seconds per run: "
            + "; ".join(f"{key} {[round(r.wall, 2) for r in found]}" for key, found in runs.items())
        )
        server.drop_database(DATABASE)


if __name__ == "__main__":
    main()
