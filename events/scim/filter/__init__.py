"""SCIM filters (RFC 7644 section 3.4.2.2) and sortBy compiled to SQL over the mirror.

scim2-models parses the filter and checks it against the schema; this package
decides where each attribute lives and writes the SQL, always with bound
parameters:

- `columns`: where each attribute is stored (indexed columns, one row per value
  in a side table, or the `resource` JSON column);
- `values`: one stored value against one operand;
- `compiler`: the walk over the parsed filter; `conditions`: the public entry
  points and their limits; `sorting`: sortBy and sortOrder;
- `sql`: the few expressions SQLite and PostgreSQL spell differently.

The meaning is the one of scim2-models' in-memory `ScimFilter.match`, which
the property test checks: every leaf is two-valued (a NULL never leaks through
`not`), `ne` on a multi-valued attribute means "no value equals", an absent
attribute equals only `null`. Two deliberate differences: an absent `primary`
is false (RFC 7643 section 2.4) and an absent `active` is true (the
projection's default, as the workspace reads it).
"""

from events.scim.filter.conditions import MAX_FILTER_NODES, group_filter, user_filter
from events.scim.filter.sorting import group_sort_key, sort_order, user_sort_key

__all__ = [
    "MAX_FILTER_NODES",
    "group_filter",
    "group_sort_key",
    "sort_order",
    "user_filter",
    "user_sort_key",
]
