"""Typed request parameters shared by routes.

A row id in a path or a cursor is a signed 64-bit integer in every backend; a larger
number from a client is a 422 at the boundary, not an overflow deep in the driver.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

SQL_INT_MAX = 2**63 - 1

RowIdPath = Annotated[int, Path(ge=1, le=SQL_INT_MAX)]
RowIdCursor = Annotated[int, Query(ge=-1, le=SQL_INT_MAX)]
