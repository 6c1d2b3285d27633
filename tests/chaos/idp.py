"""An IdP as the fault tests play it: real HTTP, retries on 5xx, every attempt recorded.

Like a real IdP it retries a write that got no clear answer (a 5xx, a broken
connection) with backoff, and before retrying a create it looks the resource
up by externalId, so an ambiguous create is adopted rather than duplicated.
"""

from __future__ import annotations

import random
import time
from typing import Any

import httpx

from tests.chaos.history import History, Register
from tests.e2e.harness import Tenant


class IdpSession:
    """One thread's connection to the service. Not shared between threads."""

    def __init__(
        self,
        tenant: Tenant,
        history: History,
        name: str,
        *,
        pace_seconds: float,
        retry_budget: float = 45.0,
        seed: int = 0,
    ):
        self.client = httpx.Client(
            base_url=tenant.scim_url,
            headers=tenant.scim_headers,
            timeout=httpx.Timeout(20.0, connect=3.0),
        )
        self.history = history
        self.name = name
        self.pace_seconds = pace_seconds
        self.retry_budget = retry_budget
        self.random = random.Random(seed)
        self._next_send = time.monotonic()

    def close(self) -> None:
        self.client.close()

    def _pace(self) -> None:
        self._next_send = max(self._next_send + self.pace_seconds, time.monotonic() - 1.0)
        delay = self._next_send - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def attempt(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        writes: dict[Register, Any],
        description: str,
    ) -> httpx.Response | None:
        """One HTTP exchange, recorded in the history with the registers it writes.
        A 429 (rate limited: nothing changed) is waited out and sent again, as IdPs do."""
        while True:
            self._pace()
            op = self.history.invoke(self.name, description, writes)
            try:
                response = self.client.request(method, path, json=body)
            except httpx.ConnectError:
                self.history.broken(op, sent=False)
                return None
            except httpx.HTTPError:
                self.history.broken(op, sent=True)
                return None
            self.history.answered(op, response.status_code)
            if response.status_code != 429:
                return response
            time.sleep(_retry_after(response))

    def write(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        writes: dict[Register, Any],
        description: str,
    ) -> httpx.Response | None:
        """Retry until the service answers clearly (2xx or 4xx) or the budget is spent."""
        deadline = time.monotonic() + self.retry_budget
        backoff = 0.3
        while True:
            response = self.attempt(method, path, body, writes, description)
            if response is not None and response.status_code < 500:
                return response
            if time.monotonic() > deadline:
                return None
            time.sleep(backoff * (1 + self.random.random()))
            backoff = min(backoff * 2, 3.0)

    def lookup(self, plural: str, external_id: str) -> str | None:
        """The service's id of the resource with this externalId, None if absent or unknown."""
        try:
            response = self.client.get(
                f"/{plural}",
                params={"filter": f'externalId eq "{external_id}"', "attributes": "id"},
            )
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        resources = response.json().get("Resources", [])
        return str(resources[0]["id"]) if resources else None

    def create(
        self, plural: str, logical_id: str, body: dict[str, Any], writes: dict[Register, Any]
    ) -> str | None:
        """POST until it is clear whether the resource exists; returns its id, or None."""
        deadline = time.monotonic() + self.retry_budget
        ambiguous = False
        while time.monotonic() < deadline:
            response = self.attempt(
                "POST", f"/{plural}", body, writes, f"POST /{plural} {logical_id}"
            )
            if response is not None and response.status_code == 201:
                scim_id = str(response.json()["id"])
                self.history.learn_id(logical_id, scim_id)
                return scim_id
            if response is not None and response.status_code < 500 and not ambiguous:
                return None  # refused outright: nothing was created
            ambiguous = ambiguous or response is None or response.status_code >= 500
            time.sleep(0.5 + self.random.random())
            found = self.lookup(plural, logical_id)
            if found is not None:
                self.history.learn_id(logical_id, found)
                return found
        return None

    def duplicate_last(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        writes: dict[Register, Any],
        description: str,
    ) -> None:
        """Send the same request again, as an IdP does when it missed the answer."""
        self.attempt(method, path, body, writes, f"{description} (duplicate)")


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(5.0, max(0.1, float(response.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0
