"""Versioned schema migrations: numbered .sql files per dialect, tracked in `PRAGMA user_version`."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from importlib import resources

from receiver.errors import StoreError


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(dialect: str) -> list[Migration]:
    folder = resources.files("receiver.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StoreError(
            f"{dialect} migrations are not numbered 1..n: {[m.version for m in found]}"
        )
    return found


def split_statements(sql: str) -> list[str]:
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in current.splitlines()
    ):
        raise StoreError(f"unterminated SQL statement: {current.strip()[:80]}")
    return statements


def migrate_sqlite(conn: sqlite3.Connection) -> list[int]:
    """Apply what is missing, each migration in its own transaction; returns the versions applied.

    The version is read again inside `BEGIN IMMEDIATE`, so two processes
    starting together on one file apply each migration once.
    """
    known = migrations("sqlite")
    applied = []
    for migration in known:
        try:
            conn.execute("BEGIN IMMEDIATE")
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if migration.version <= current:
                conn.execute("ROLLBACK")
                continue
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {migration.version}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(
                f"migration {migration.version} ({migration.name}) failed: {exc}"
            ) from exc
        applied.append(migration.version)
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > len(known):
        raise StoreError(
            f"the database is at schema version {current}, newer than this receiver knows "
            f"({len(known)}): upgrade receiver"
        )
    return applied
