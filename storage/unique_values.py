"""Values no two resources of one tenant may share in the mirror (a unique index each):
an IdP's retried create, or a rename onto a taken value, meets 409 `uniqueness` naming the
attribute, never a second copy. The index decides, so two concurrent creates make one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from reconciler.errors import Uniqueness
from storage.bulk import insert_rows


@dataclass(frozen=True)
class UniqueValues:
    table: Table
    pairs: tuple[tuple[str, str], ...]  # (column, the SCIM attribute it holds)

    def taken(
        self,
        conn: Connection,
        tenant_id: str,
        columns: dict[str, Any],
        *,
        other_than: str | None = None,
    ) -> Uniqueness:
        """The refusal naming the attribute whose value another resource already holds."""
        for column, attribute in self.pairs:
            value = columns.get(column)
            if value is None:
                continue
            query = select(self.table.c.id).where(
                self.table.c.tenant_id == tenant_id, self.table.c[column] == value
            )
            if other_than is not None:
                query = query.where(self.table.c.id != other_than)
            if conn.execute(query.limit(1)).first() is not None:
                return Uniqueness(f"{attribute} {value!r} is already taken")
        return Uniqueness("a unique attribute's value is already taken")

    def insert(self, conn: Connection, row: dict[str, Any]) -> None:
        """INSERT the new row, or refuse with `uniqueness` when a unique value is taken.

        ON CONFLICT DO NOTHING rather than a savepoint around a failing INSERT: two
        statements fewer on every create, and the transaction stays usable.
        """
        inserted = conn.execute(_insert_unless_taken(self.table, conn.dialect.name), row).first()
        if inserted is None:
            raise self.taken(conn, row["tenant_id"], row)

    def insert_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """`insert` for many rows in one statement; `uniqueness` names the first row that
        met a taken value (the rows before it stay inserted: the caller's transaction
        decides, as it does for a failing write among others)."""
        if not rows:
            return
        inserted = set(insert_rows(conn, self.table, rows, skip_conflicts=True, returning="id"))
        for row in rows:
            if row["id"] not in inserted:
                raise self.taken(conn, row["tenant_id"], row, other_than=row["id"])

    @contextmanager
    def kept_on_update(
        self, conn: Connection, tenant_id: str, resource_id: str, columns: dict[str, Any]
    ) -> Iterator[None]:
        """Turn a clash on a unique index during an UPDATE into `uniqueness`; the savepoint
        keeps the transaction usable after the refused statement."""
        try:
            with conn.begin_nested():
                yield
        except IntegrityError as exc:
            raise self.taken(conn, tenant_id, columns, other_than=resource_id) from exc


@lru_cache(maxsize=8)
def _insert_unless_taken(table: Table, dialect: str) -> Any:
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return insert.on_conflict_do_nothing().returning(table.c.id)
