"""The IdP's threads in the fault tests' workload, each an `Actor` with its own session.

- Users: each user thread owns its users: create, then 1-4 of deactivate /
  reactivate / rename, sometimes a delete, interleaving several users at a time
  so events for different resources arrive in every order.
- Groups: create groups with members, then keep adding and removing members,
  picking users the user threads may be deactivating or deleting at that moment.
- Racer: flips `active` on users other threads own (concurrent writes to one
  register, which the checker resolves by real-time order).
- Some successful writes are sent again at once (an IdP that missed the answer).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.history import Register
from tests.chaos.idp import IdpSession

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
Writes = dict[Register, Any]


@dataclass(frozen=True)
class WorkloadConfig:
    user_threads: int = 3
    users_per_thread: int = 100
    groups: int = 16
    writes_per_second: float = 60.0  # the pace of all threads together
    duplicate_ratio: float = 0.1
    delete_ratio: float = 0.12
    external_ratio: float = 0.1  # users outside the SSO domain: pending members
    domain: str = "acme.test"
    seed: int = 7


def replace_op(path: str, value: Any) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "path": path, "value": value}]}


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


@dataclass
class Actor:
    idp: IdpSession
    rng: random.Random
    config: WorkloadConfig
    directory: Directory
    users_done: threading.Event

    def send(
        self, method: str, path: str, body: dict[str, Any] | None, writes: Writes, description: str
    ) -> None:
        response = self.idp.write(method, path, body, writes, description)
        if (
            response is not None
            and response.is_success
            and self.rng.random() < self.config.duplicate_ratio
        ):
            self.idp.duplicate_last(method, path, body, writes, description)

    def set_active(self, user: str, scim_id: str, active: bool) -> None:
        self.send(
            "PATCH",
            f"/Users/{scim_id}",
            replace_op("active", active),
            {("user", user, "active"): active},
            f"PATCH {user} active={active}",
        )


def play_users(actor: Actor, index: int) -> None:
    todo = [f"u{index}-{n:04d}" for n in range(actor.config.users_per_thread)]
    window: dict[str, list[str]] = {}  # user -> steps still to send
    scim_ids: dict[str, str] = {}
    while todo or window:
        while todo and len(window) < 8:
            window[todo.pop(0)] = ["create"]
        user = actor.rng.choice(list(window))
        window[user] += _user_step(actor, user, window[user].pop(0), scim_ids)
        if not window[user]:
            del window[user]


def _user_step(actor: Actor, user: str, step: str, scim_ids: dict[str, str]) -> list[str]:
    rng, cfg = actor.rng, actor.config
    if step == "create":
        domain = "partner.test" if rng.random() < cfg.external_ratio else cfg.domain
        name, email = f"{user} v0", f"{user}@{domain}"
        body = {
            "schemas": [USER],
            "userName": email,
            "externalId": user,
            "displayName": name,
            "active": True,
            "emails": [{"value": email, "type": "work", "primary": True}],
        }
        writes: Writes = {
            ("user", user, "exists"): True,
            ("user", user, "active"): True,
            ("user", user, "name"): name,
        }
        scim_id = actor.idp.create("Users", user, body, writes)
        if scim_id is None:
            return []
        scim_ids[user] = scim_id
        actor.directory.add(user, scim_id)
        steps = rng.choices(["deactivate", "reactivate", "rename"], k=rng.randint(1, 4))
        return steps + (["delete"] if rng.random() < cfg.delete_ratio else [])
    path = f"/Users/{scim_ids[user]}"
    if step == "delete":
        actor.send("DELETE", path, None, {("user", user, "exists"): False}, f"DELETE {user}")
    elif step == "rename":
        name = f"{user} v{rng.randint(1, 999)}"
        actor.send(
            "PATCH",
            path,
            replace_op("displayName", name),
            {("user", user, "name"): name},
            f"PATCH {user} name={name}",
        )
    else:
        actor.set_active(user, scim_ids[user], step == "reactivate")
    return []


def play_groups(actor: Actor) -> None:
    while len(actor.directory.ids) < 20 and not actor.users_done.is_set():
        actor.users_done.wait(0.2)
    groups = {}
    for n in range(actor.config.groups):
        scim_id = _create_group(actor, f"g{n:03d}", f"Team {n}")
        if scim_id is not None:
            groups[f"g{n:03d}"] = scim_id
    while not actor.users_done.is_set():
        _group_step(actor, groups)
    for group in actor.rng.sample(sorted(groups), min(2, len(groups))):
        actor.send(
            "DELETE",
            f"/Groups/{groups[group]}",
            None,
            {("group", group, "exists"): False},
            f"DELETE {group}",
        )


def _create_group(actor: Actor, group: str, name: str) -> str | None:
    members = actor.directory.sample(actor.rng, actor.rng.randint(0, 5))
    body = {
        "schemas": [GROUP],
        "displayName": name,
        "externalId": group,
        "members": [{"value": scim_id} for _, scim_id in members],
    }
    writes: Writes = {("group", group, "exists"): True, ("group", group, "name"): name}
    member_writes: Writes = {("member", group, user): True for user, _ in members}
    scim_id = actor.idp.create("Groups", group, body, writes | member_writes)
    if scim_id is None:  # a member was deleted meanwhile: create it empty instead
        scim_id = actor.idp.create("Groups", group, {**body, "members": []}, writes)
    return scim_id


def _group_step(actor: Actor, groups: dict[str, str]) -> None:
    group = actor.rng.choice(sorted(groups))
    path, roll = f"/Groups/{groups[group]}", actor.rng.random()
    if roll < 0.05:
        name = f"Team {group} r{actor.rng.randint(1, 99)}"
        actor.send(
            "PATCH",
            path,
            replace_op("displayName", name),
            {("group", group, "name"): name},
            f"PATCH {group} name={name}",
        )
        return
    users = actor.directory.sample(actor.rng, actor.rng.randint(1, 4))
    add = roll < 0.7
    operation: dict[str, Any] = (
        {"op": "add", "path": "members", "value": [{"value": i} for _, i in users]}
        if add
        else {"op": "remove", "path": f'members[value eq "{users[0][1]}"]'}
    )
    chosen = users if add else users[:1]
    actor.send(
        "PATCH",
        path,
        {"schemas": [PATCH], "Operations": [operation]},
        {("member", group, user): add for user, _ in chosen},
        f"PATCH {group} {'add' if add else 'remove'} {[u for u, _ in chosen]}",
    )


def play_racer(actor: Actor) -> None:
    while not actor.users_done.is_set():
        picked = actor.directory.sample(actor.rng, 1)
        if not picked:
            actor.users_done.wait(0.2)
            continue
        user, scim_id = picked[0]
        actor.set_active(user, scim_id, actor.rng.random() < 0.5)
