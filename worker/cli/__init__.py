"""The `scimsync` command line (every command is in the README). Thin: parse, call, format."""

from worker.cli import admin, ops, reconcile, trace, webhooks, workspaces
from worker.cli.main import main

admin.register(main)
workspaces.register(main)  # adds to admin's `tenant` group
ops.register(main)
reconcile.register(main)
webhooks.register(main)
trace.register(main)

__all__ = ["main"]
