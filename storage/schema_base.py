"""The one MetaData every table registers in, its naming convention, and the column types
the tables share. Its own module so that the schema can span modules without a cycle."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData, String

from storage.sql import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = String(64)
BigId = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = UtcDateTime()  # UTC with its offset on every backend (storage/sql.py)
