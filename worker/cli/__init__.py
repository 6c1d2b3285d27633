"""The `scimsync` command line (DESIGN.md section 5). Thin: parse, call one function, format."""

from worker.cli import admin, ops, webhooks
from worker.cli.main import main

admin.register(main)
ops.register(main)
ops.register_reconcile(main)
webhooks.register(main)

__all__ = ["main"]
