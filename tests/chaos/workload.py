"""Thousands of SCIM writes from a few threads, with duplicates and reordering.

- User threads own their users: create, then 1-4 of deactivate / reactivate /
  rename, sometimes a delete. A thread interleaves several users at a time, so
  events for different resources arrive in every order.
- A group thread creates groups with members and keeps adding and removing
  members, picking users the user threads may be deactivating or deleting
  at that very moment.
- A racer thread flips `active` on users other threads own: concurrent writes
  to one register, which the checker resolves by real-time order.
- Some successful writes are sent again at once (an IdP that missed the answer).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.history import History, Register
from tests.chaos.idp import IdpSession
from tests.e2e.harness import Tenant

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass(frozen=True)
class WorkloadConfig:
    user_threads: int = 3
    users_per_thread: int = 100
    groups: int = 16
    writes_per_second: float = 60.0  # the pace of all threads together
    duplicate_ratio: float = 0.1
    delete_ratio: float = 0.12
    external_ratio: float = 0.1
    domain: str = "acme.test"
    seed: int = 7


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


@dataclass
class Directory:
    """Users created so far, shared by the threads (the IdP's own directory)."""

    ids: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, logical_id: str, scim_id: str) -> None:
        with self.lock:
            self.ids[logical_id] = scim_id

    def sample(self, rng: random.Random, k: int) -> list[tuple[str, str]]:
        with self.lock:
            items = list(self.ids.items())
        return rng.sample(items, min(k, len(items)))


class Workload:
    def __init__(self, tenant: Tenant, config: WorkloadConfig):
        self.tenant = tenant
        self.config = config
        self.history = History()
        self.directory = Directory()
        self.users_done = threading.Event()
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._user_threads_left = config.user_threads
        threads = config.user_threads + 2
        pace = threads / config.writes_per_second
        self.sessions = [
            IdpSession(tenant, self.history, f"t{i}", pace_seconds=pace, seed=config.seed + i)
            for i in range(threads)
        ]
        self.threads = [
            threading.Thread(target=self._guard, args=(self._users, i), daemon=True)
            for i in range(config.user_threads)
        ]
        self.threads += [
            threading.Thread(target=self._guard, args=(self._groups,), daemon=True),
            threading.Thread(target=self._guard, args=(self._racer,), daemon=True),
        ]

    def start(self) -> Workload:
        for thread in self.threads:
            thread.start()
        return self

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def join(self, timeout: float = 300) -> History:
        for thread in self.threads:
            thread.join(timeout)
        for session in self.sessions:
            session.close()
        if self.errors:
            raise self.errors[0]
        return self.history

    def _guard(self, target: Any, *args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:  # surfaced by join()
            self.errors.append(exc)
            self.users_done.set()  # let the other threads finish
        finally:
            if target == self._users:
                with self._lock:
                    self._user_threads_left -= 1
                    if self._user_threads_left == 0:
                        self.users_done.set()

    # --- users ---------------------------------------------------------------------

    def _users(self, index: int) -> None:
        idp, rng, cfg = (
            self.sessions[index],
            random.Random(self.config.seed * 100 + index),
            self.config,
        )
        todo = [f"u{index}-{n:04d}" for n in range(cfg.users_per_thread)]
        window: dict[str, list[str]] = {}
        while todo or window:
            while todo and len(window) < 8:
                window[todo.pop(0)] = ["create"]
            user = rng.choice(list(window))
            step = window[user].pop(0)
            more = self._user_step(idp, rng, user, step)
            window[user] += more
            if not window[user]:
                del window[user]

    def _user_step(self, idp: IdpSession, rng: random.Random, user: str, step: str) -> list[str]:
        cfg = self.config
        if step == "create":
            domain = "partner.test" if rng.random() < cfg.external_ratio else cfg.domain
            name = f"{user} v0"
            body = {
                "schemas": [USER],
                "userName": f"{user}@{domain}",
                "externalId": user,
                "displayName": name,
                "active": True,
                "emails": [{"value": f"{user}@{domain}", "type": "work", "primary": True}],
            }
            writes: dict[Register, Any] = {
                ("user", user, "exists"): True,
                ("user", user, "active"): True,
                ("user", user, "name"): name,
            }
            scim_id = idp.create("Users", user, body, writes)
            if scim_id is None:
                return []
            self.directory.add(user, scim_id)
            steps = rng.choices(["deactivate", "reactivate", "rename"], k=rng.randint(1, 4))
            return steps + (["delete"] if rng.random() < cfg.delete_ratio else [])
        scim_id = self.history.scim_ids[user]
        if step == "delete":
            self._send(
                idp,
                rng,
                "DELETE",
                f"/Users/{scim_id}",
                None,
                {("user", user, "exists"): False},
                f"DELETE {user}",
            )
        elif step == "rename":
            name = f"{user} v{rng.randint(1, 999)}"
            self._send(
                idp,
                rng,
                "PATCH",
                f"/Users/{scim_id}",
                patch({"op": "replace", "path": "displayName", "value": name}),
                {("user", user, "name"): name},
                f"PATCH {user} name={name}",
            )
        else:
            active = step == "reactivate"
            self._set_active(idp, rng, user, scim_id, active)
        return []

    def _set_active(
        self, idp: IdpSession, rng: random.Random, user: str, scim_id: str, active: bool
    ) -> None:
        self._send(
            idp,
            rng,
            "PATCH",
            f"/Users/{scim_id}",
            patch({"op": "replace", "path": "active", "value": active}),
            {("user", user, "active"): active},
            f"PATCH {user} active={active}",
        )

    def _send(
        self,
        idp: IdpSession,
        rng: random.Random,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        writes: dict[Register, Any],
        description: str,
    ) -> None:
        response = idp.write(method, path, body, writes, description)
        if (
            response is not None
            and response.is_success
            and rng.random() < self.config.duplicate_ratio
        ):
            idp.duplicate_last(method, path, body, writes, description)

    # --- groups and the racer -----------------------------------------------------------

    def _groups(self) -> None:
        idp = self.sessions[self.config.user_threads]
        rng = random.Random(self.config.seed * 1000)
        groups: dict[str, str] = {}
        while len(self.directory.ids) < 20 and not self.users_done.is_set():
            self.users_done.wait(0.2)
        for n in range(self.config.groups):
            group, name = f"g{n:03d}", f"Team {n}"
            members = self.directory.sample(rng, rng.randint(0, 5))
            body = {
                "schemas": [GROUP],
                "displayName": name,
                "externalId": group,
                "members": [{"value": scim_id} for _, scim_id in members],
            }
            writes: dict[Register, Any] = {
                ("group", group, "exists"): True,
                ("group", group, "name"): name,
            }
            writes |= {("member", group, user): True for user, _ in members}
            scim_id = idp.create("Groups", group, body, writes)
            if scim_id is None:  # a member was deleted meanwhile: create it empty instead
                body["members"] = []
                scim_id = idp.create(
                    "Groups", group, body, {k: v for k, v in writes.items() if k[0] == "group"}
                )
            if scim_id is not None:
                groups[group] = scim_id
        while not self.users_done.is_set():
            self._group_step(idp, rng, groups)
        for group in rng.sample(sorted(groups), min(2, len(groups))):
            self._send(
                idp,
                rng,
                "DELETE",
                f"/Groups/{groups[group]}",
                None,
                {("group", group, "exists"): False},
                f"DELETE {group}",
            )

    def _group_step(self, idp: IdpSession, rng: random.Random, groups: dict[str, str]) -> None:
        group = rng.choice(sorted(groups))
        path = f"/Groups/{groups[group]}"
        roll = rng.random()
        if roll < 0.05:
            name = f"Team {group} r{rng.randint(1, 99)}"
            self._send(
                idp,
                rng,
                "PATCH",
                path,
                patch({"op": "replace", "path": "displayName", "value": name}),
                {("group", group, "name"): name},
                f"PATCH {group} name={name}",
            )
            return
        users = self.directory.sample(rng, rng.randint(1, 4))
        add = roll < 0.7
        operation: dict[str, Any] = (
            {"op": "add", "path": "members", "value": [{"value": i} for _, i in users]}
            if add
            else {"op": "remove", "path": f'members[value eq "{users[0][1]}"]'}
        )
        chosen = users if add else users[:1]
        self._send(
            idp,
            rng,
            "PATCH",
            path,
            patch(operation),
            {("member", group, user): add for user, _ in chosen},
            f"PATCH {group} {'add' if add else 'remove'} {[u for u, _ in chosen]}",
        )

    def _racer(self) -> None:
        idp = self.sessions[-1]
        rng = random.Random(self.config.seed * 7919)
        while not self.users_done.is_set():
            picked = self.directory.sample(rng, 1)
            if not picked:
                self.users_done.wait(0.2)
                continue
            user, scim_id = picked[0]
            self._set_active(idp, rng, user, scim_id, rng.random() < 0.5)
