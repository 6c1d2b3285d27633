"""The anchor server: scim2-server, the reference in-memory SCIM server, as its CLI builds it.

`python -m bench.reference --port P --token T [--seed-users N]` assembles the
same pieces as the `scim2-server` command (RFC 7643 schemas and resource types,
the default service provider config, a bearer token, the threaded WSGI server)
with two differences, both in the anchor's favour or neutral: the per-request
access log is off (scim-sync's is off too), and it can be seeded before it
serves, through its own backend in this process (validation + storage.create:
the path a POST takes, minus the socket). It prints one JSON line when ready.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from scim2_models import Context, ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

from bench.payloads import user_body

CREATION = Context.RESOURCE_CREATION_REQUEST


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def build(token: str) -> tuple[BearerTokenApplication, InMemoryStorage, ScimProvider]:
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    storage = InMemoryStorage()
    service = ScimService(provider, secret=secrets.token_urlsafe(32))
    app = BearerTokenApplication(storage, provider, service=service, bearer_tokens=[token])
    return app, storage, provider


def seed(storage: InMemoryStorage, provider: ScimProvider, count: int) -> None:
    user_type = next(rt for rt in provider.resource_types if rt.name == "User")
    model = provider.model_for("User")
    assert model is not None
    for index in range(count):
        resource = model.model_validate(user_body(index), scim_ctx=CREATION)
        storage.create(user_type, resource)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--seed-users", type=int, default=0)
    args = parser.parse_args()
    app, storage, provider = build(args.token)
    started = time.monotonic()
    seed(storage, provider, args.seed_users)
    seed_seconds = time.monotonic() - started
    with make_server(
        "127.0.0.1", args.port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    ) as server:
        print(
            json.dumps(
                {
                    "ready": True,
                    "seed_users": args.seed_users,
                    "seed_seconds": round(seed_seconds, 2),
                }
            ),
            flush=True,
        )
        server.serve_forever()


if __name__ == "__main__":
    main()
