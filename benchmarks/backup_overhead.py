"""Measure what the backup tool costs over the bare pipeline, and which compression level to ship.

Builds a database of a few hundred MB of realistic rows (names, addresses, free text,
JSON, timestamps) in a throwaway PostgreSQL (the test harness's service: a local cluster,
a container, or ``BACKUP_TEST_POSTGRES_URL``), bakes a project, then times:

* bare: ``pg_dump | pigz -p N -L > file && sha256sum file``
* tool: ``scripts/db-backup.sh`` at the same level (dump, hash while writing, fsync,
  publish, checksum file, retention)

several times each (median), and prints the tool/bare wall-time ratio, the peak RSS of
the tool's own Python process (VmHWM from /proc, polled) against the database size, and
a table of compression levels (gzip 1/3/6 via pigz, gzip -6 single-threaded, zstd 3).

Usage: python benchmarks/backup_overhead.py [--orders N] [--runs N] [--level N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.services.postgres import PostgresServer, postgres_service  # noqa: E402

DATABASE = "bench"
BUILD_SQL = """
CREATE TABLE customers AS
SELECT g AS id,
       (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Ken','Dennis','Margaret',
              'Linus','Guido','Bjarne','Frances','John','Radia'])[1 + g % 15]
         || ' ' ||
       (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Thompson','Ritchie',
              'Hamilton','Torvalds','van Rossum','Stroustrup','Allen','Backus','Perlman'])
         [1 + (g * 7) % 15] AS name,
       'user' || g || '@example.' ||
         (ARRAY['com','org','net','io'])[1 + g % 4] AS email,
       (g * 37) % 9999 + 1 || ' ' ||
       (ARRAY['Main','Oak','Pine','Maple','Cedar','Elm','Lake','Hill'])[1 + g % 8]
         || ' Street, ' ||
       (ARRAY['Springfield','Riverside','Fairview','Madison','Georgetown','Salem'])
         [1 + (g * 3) % 6] AS address,
       timestamp '2015-01-01' + (g * interval '37 minutes') AS created_at
FROM generate_series(1::bigint, {customers}) AS g;

CREATE TABLE orders AS
SELECT g AS id,
       1 + (g * 7919) % {customers} AS customer_id,
       round((random() * 500)::numeric, 2) AS total,
       (ARRAY['new','paid','shipped','delivered','returned'])[1 + g % 5] AS status,
       timestamp '2018-01-01' + (g * interval '3 minutes') AS ordered_at,
       jsonb_build_object('channel', (ARRAY['web','app','phone'])[1 + g % 3],
                          'items', 1 + g % 9, 'gift', g % 11 = 0) AS meta,
       (SELECT string_agg(w, ' ') FROM (
          SELECT (ARRAY['please','deliver','before','noon','leave','at','door','fragile',
                        'handle','with','care','call','on','arrival','thanks','the','parcel',
                        'back','office','gate','code','is','ring','twice','neighbour'])
                 [1 + ((g * 31 + i * 17) % 25)] AS w
          FROM generate_series(1, 8 + g % 24) AS i) AS words) AS note
FROM generate_series(1::bigint, {orders}) AS g;
"""


# Orders generated row by row; more are copies of these with new ids (generating
# each row's note costs most of the build: a 1.5 GB database would take a quarter hour).
GENERATED_ORDERS = 1_000_000
REPEAT_SQL = """
INSERT INTO orders
SELECT id + {offset}, customer_id, total, status, ordered_at + interval '1 year' * {round},
       meta, note
FROM orders WHERE id <= {count};
"""


def build_database(server: PostgresServer, orders: int) -> int:
    """Create the benchmark database; return its size in bytes."""
    server.drop_database(DATABASE)
    server.create_database(DATABASE)
    generated = min(orders, GENERATED_ORDERS)
    customers = max(orders // 10, 1000)
    server.psql(BUILD_SQL.format(customers=customers, orders=generated), DATABASE)
    done, round_ = generated, 1
    while done < orders:
        count = min(generated, orders - done)
        server.psql(REPEAT_SQL.format(offset=done, round=round_, count=count), DATABASE)
        done, round_ = done + count, round_ + 1
    server.psql("VACUUM ANALYZE", DATABASE)
    return int(server.psql(f"SELECT pg_database_size('{DATABASE}')"))


def bake(target: Path) -> Path:
    """Bake a default project with cookiecutter's API into ``target``."""
    from cookiecutter.main import cookiecutter

    return Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(target)))


@dataclass(frozen=True)
class Run:
    """One timed run: wall seconds, CPU seconds of every process it started, peak RSS (KiB),
    and what it wrote to stdout (the tool's log)."""

    wall: float
    cpu: float
    peak_rss_kib: int
    stdout: str = ""


def host_environ() -> dict[str, str]:
    """This environment as a host install runs the tool.

    Python caches its bytecode: without it every run compiles the package again
    (about 0.1 s), which no cron or compose run pays after its first (the image
    ships compiled bytecode). And ``python3`` is the interpreter itself: where it is
    a version manager's shim (pyenv's costs about 0.14 s per start), the interpreter
    it resolves to goes first on PATH, as in the image or on a server.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    found = subprocess.run(
        ["python3", "-c", "import sys; print(sys.executable)"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    interpreter = found.stdout.strip()
    if found.returncode == 0 and interpreter:
        env["PATH"] = os.pathsep.join([str(Path(interpreter).parent), env.get("PATH", "")])
    return env


def timed(command: list[str], env: dict[str, str], watch_rss: bool = False) -> Run:
    """Time ``command``; with ``watch_rss``, also the peak RSS of its main process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0]

    def poll() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
            except (OSError, ValueError):
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    if watch_rss:
        watcher.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if watch_rss:
        watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{err.decode(errors='replace')}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(seconds, cpu, peak[0], out.decode(errors="replace"))


def summary(runs: list[Run]) -> str:
    """Median and best wall time, median CPU time."""
    walls = [r.wall for r in runs]
    return (
        f"wall median {statistics.median(walls):6.2f} s, best {min(walls):6.2f} s; "
        f"CPU median {statistics.median(r.cpu for r in runs):6.2f} s"
    )


def shell(script: str) -> list[str]:
    return ["bash", "-o", "pipefail", "-c", script]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_500_000, help="rows in the orders table")
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant (median)")
    parser.add_argument("--level", type=int, default=3, help="gzip level compared")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    pigz = shutil.which("pigz")
    if pigz is None:
        raise SystemExit("pigz is needed for the benchmark: apt-get install pigz")

    with postgres_service() as server, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        print(f"building {args.orders} orders in a throwaway PostgreSQL ({server.kind})...")
        db_bytes = build_database(server, args.orders)
        project = bake(work / "baked")
        out = work / "out"
        out.mkdir()
        pg_dump = server.program("pg_dump")
        connection = (
            f"{shlex.quote(pg_dump)} -h {server.host} -p {server.port} -U {server.superuser} "
            f"--format=plain {DATABASE}"
        )
        env = {**server.psql_env()}
        tool_env = {
            **host_environ(),
            **server.env(DATABASE),
            "BACKUP_DIR": str(out / "tool"),
            "BACKUP_COMPRESSION_LEVEL": str(args.level),
            "BACKUP_RETENTION_DAILY": "0",
        }
        sql_bytes = int(
            subprocess.run(
                shell(f"{connection} | wc -c"), env=env, capture_output=True, check=True
            ).stdout
        )
        print(f"database {db_bytes / 2**20:.0f} MiB on disk, {sql_bytes / 2**20:.0f} MiB of SQL")

        bare_script = (
            f"{connection} | {pigz} -p {cores} -{args.level} > {out}/bare.sql.gz "
            f"&& sha256sum {out}/bare.sql.gz > {out}/bare.sql.gz.sha256"
        )
        bare: list[Run] = []
        tool: list[Run] = []
        for _ in range(args.runs):  # interleaved, so load from elsewhere hits both alike
            bare.append(timed(shell(bare_script), env))
            tool.append(timed([str(project / "scripts" / "db-backup.sh")], tool_env, True))
            shutil.rmtree(out / "tool")
        print(f"\nbare pipeline (pigz -p {cores} -{args.level} + sha256sum): {summary(bare)}")
        print(f"db-backup.sh at the same level:          {summary(tool)}")
        best = min(r.wall for r in tool) / min(r.wall for r in bare)
        median = statistics.median(r.wall for r in tool) / statistics.median(r.wall for r in bare)
        cpu = statistics.median(r.cpu for r in tool) / statistics.median(r.cpu for r in bare)
        print(
            f"tool / bare: wall {best:.3f} (best runs), {median:.3f} (medians); "
            f"CPU {cpu:.3f} (medians)"
        )
        peak = max(r.peak_rss_kib for r in tool)
        print(
            f"peak RSS of the tool's Python process: {peak / 1024:.1f} MiB "
            f"for a {db_bytes / 2**20:.0f} MiB database ({sql_bytes / 2**20:.0f} MiB of SQL)"
        )

        print("\ncompressor          size MiB    ratio  wall (best)  CPU s (median)")
        variants = [
            (f"pigz -1 (p{cores})", f"{pigz} -p {cores} -1", "gz"),
            (f"pigz -3 (p{cores})", f"{pigz} -p {cores} -3", "gz"),
            (f"pigz -6 (p{cores})", f"{pigz} -p {cores} -6", "gz"),
            ("gzip -6 (1 core)", "gzip -6", "gz"),
            (f"zstd -3 (T{cores})", f"zstd -T{cores} -3 -q", "zst"),
        ]
        for label, compressor, extension in variants:
            target = out / f"level.sql.{extension}"
            runs = [
                timed(shell(f"{connection} | {compressor} > {target}"), env)
                for _ in range(1 if "1 core" in label else args.runs)
            ]
            size = target.stat().st_size
            print(
                f"{label:<19} {size / 2**20:8.1f}  {sql_bytes / size:6.2f}x  "
                f"{min(r.wall for r in runs):8.2f}  {statistics.median(r.cpu for r in runs):8.2f}"
            )
        dump_only = [timed(shell(f"{connection} > /dev/null"), env) for _ in range(args.runs)]
        print(
            f"{'pg_dump > /dev/null':<19} {'':8}  {'':7}  {min(r.wall for r in dump_only):8.2f}  "
            f"{statistics.median(r.cpu for r in dump_only):8.2f}"
        )
        server.drop_database(DATABASE)


if __name__ == "__main__":
    main()
