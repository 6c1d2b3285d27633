"""The benchmark harness (docs/architecture.md §7): `make bench` / `python -m bench`.

Every figure is a ratio to an anchor measured in the same run on the same
machine, because absolute numbers drift from one machine (and one minute) to
the next. Each scenario starts its own database, Redis and processes, and
removes them when it ends.
"""
