"""Event states are stored as text: the enum must keep the values rows already hold."""

from __future__ import annotations

from sqlalchemy import Engine, text

from storage import outbox
from storage.clock import utcnow
from storage.event_state import EventState


def test_event_states_keep_their_stored_values() -> None:
    assert {state.name: str(state) for state in EventState} == {
        "PENDING": "pending",
        "APPLIED": "applied",
        "DEAD": "dead",
    }


def test_the_database_holds_the_plain_values(engine: Engine) -> None:
    def stored(event_id: int) -> object:
        with engine.connect() as conn:
            query = text("SELECT state FROM change_events WHERE id = :id")
            return conn.execute(query, {"id": event_id}).scalar_one()

    fields = {"tenant_id": "t1", "resource_type": "User", "version": 1, "operation": "create"}
    with engine.begin() as conn:
        first, second = (
            outbox.append(conn, **fields, resource_id=r, payload={}, now=utcnow())
            for r in ("u1", "u2")
        )
    assert (type(stored(first)), stored(first)) == (str, "pending")

    with engine.begin() as conn:
        outbox.mark_applied(conn, [first], utcnow())
        (event,) = (e for e in outbox.claim(conn, "t1", 10) if e.id == second)
        outbox.dead_letter(conn, [event], code="refused", reason="a rule", now=utcnow())
    assert (stored(first), stored(second)) == ("applied", "dead")
