"""Sample datasets: where their files are, how to load them, and what they hold.

The shared datasets (Pagila, Chinook, Northwind) live in ``<repository>/../shared/datasets``
with a README each giving the load steps and the measured object counts used here. A user's
clone has no ``../shared``, so tests that need them skip with a reason. The ``small`` dataset
is built in and always available.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DATASETS_VARIABLE = "BACKUP_TEST_DATASETS_DIR"


def datasets_dir() -> Path:
    """Directory holding the shared datasets (``BACKUP_TEST_DATASETS_DIR`` overrides it)."""
    override = os.environ.get(DATASETS_VARIABLE)
    if override:
        return Path(override)
    return REPOSITORY_ROOT.parent / "shared" / "datasets"


@dataclass(frozen=True)
class LoadStep:
    """One SQL source fed to psql: a file, or the output of a filter program over a file."""

    relative_path: str
    filter_command: tuple[str, ...] = ()
    builtin_sql: str | None = None

    def path(self) -> Path:
        return datasets_dir() / self.relative_path

    def source_command(self) -> list[str]:
        """A command whose stdout is the SQL to run (``cat`` when no filter is needed)."""
        program = self.filter_command[0] if self.filter_command else "cat"
        executable = shutil.which(program)
        if executable is None:
            raise FileNotFoundError(f"{program} is needed to load {self.relative_path}")
        return [executable, *self.filter_command[1:], str(self.path())]


@dataclass(frozen=True)
class Dataset:
    """A sample database and the counts its README measured."""

    name: str
    steps: tuple[LoadStep, ...]
    tables: int
    rows: int
    table_rows: dict[str, int] = field(default_factory=dict)
    needs_postgres_role: bool = False
    builtin: bool = False

    def missing_files(self) -> list[str]:
        """Paths of this dataset's files that are absent (none for built-in datasets)."""
        if self.builtin:
            return []
        return [str(step.path()) for step in self.steps if not step.path().is_file()]

    def require_files(self) -> None:
        """Skip the calling test, with the reason, when the dataset's files are absent."""
        missing = self.missing_files()
        if missing:
            pytest.skip(
                f"dataset {self.name!r} not available: {missing[0]} is missing "
                "(the shared datasets sit in ../shared/datasets beside the repository)"
            )


SMALL_SQL = r"""
CREATE SEQUENCE public.invoice_number_seq START 1000;

CREATE TABLE public.customer (
    customer_id serial PRIMARY KEY,
    name text NOT NULL,
    notes text,
    created_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);

CREATE TABLE public.document (
    document_id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES public.customer,
    title text NOT NULL,
    body bytea NOT NULL
);

CREATE TABLE public.invoice (
    invoice_number bigint PRIMARY KEY DEFAULT nextval('public.invoice_number_seq'),
    customer_id integer NOT NULL REFERENCES public.customer,
    amount numeric(10, 2) NOT NULL CHECK (amount >= 0)
);

CREATE FUNCTION public.customer_total(p_customer integer) RETURNS numeric
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(sum(amount), 0) FROM public.invoice WHERE customer_id = p_customer $$;

CREATE VIEW public.customer_balance AS
    SELECT c.customer_id, c.name, public.customer_total(c.customer_id) AS total
    FROM public.customer c;

INSERT INTO public.customer (name, notes) VALUES
    ('Ada Lovelace', E'first line\nsecond line\n\ttabbed third line'),
    ('Grace Hopper', 'quote '' and backslash \ and "double"'),
    ('Émile Zola', NULL);

INSERT INTO public.document (document_id, customer_id, title, body) VALUES
    (1, 1, 'binary', '\x00010203feff'::bytea),
    (2, 2, 'empty', ''::bytea);

INSERT INTO public.invoice (customer_id, amount) VALUES (1, 10.50), (1, 4.50), (2, 99.99);
"""

DATASETS: dict[str, Dataset] = {
    "small": Dataset(
        name="small",
        steps=(LoadStep("<built in>", builtin_sql=SMALL_SQL),),
        tables=3,
        rows=8,
        table_rows={"public.customer": 3, "public.document": 2, "public.invoice": 3},
        builtin=True,
    ),
    "pagila": Dataset(
        name="pagila",
        steps=(
            LoadStep("pagila/pagila-schema.sql"),
            LoadStep("pagila/pagila-data.sql.gz", filter_command=("gzip", "-dc")),
        ),
        # 14 ordinary tables plus 7 partitions of payment (the partitioned parent holds no rows)
        tables=21,
        rows=49_636,
        table_rows={"public.rental": 16_044, "public.film_actor": 5_462, "public.inventory": 4_581},
        needs_postgres_role=True,
    ),
    "chinook": Dataset(
        name="chinook",
        steps=(
            LoadStep(
                "chinook/Chinook_PostgreSql.sql",
                # the script creates and connects to its own database; load into ours instead
                filter_command=(
                    "sed",
                    "-e",
                    r"/^DROP DATABASE IF EXISTS chinook;$/d",
                    "-e",
                    r"/^CREATE DATABASE chinook;$/d",
                    "-e",
                    r"/^\\c chinook;$/d",
                ),
            ),
        ),
        tables=11,
        rows=15_607,
        table_rows={"public.playlist_track": 8_715, "public.track": 3_503},
    ),
    "northwind": Dataset(
        name="northwind",
        steps=(LoadStep("northwind/northwind.sql"),),
        tables=14,
        rows=3_362,
        table_rows={"public.order_details": 2_155, "public.orders": 830},
    ),
}
