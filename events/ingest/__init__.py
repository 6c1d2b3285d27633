"""The ingest: how every accepted write reaches the mirror and the event log.

- `service.py`: the one write path. SCIM routes, /Bulk, webhooks, Okta Event Hooks
  and mirror repair open an `IngestSession` on a unit of work and write through it:
  the tenant's dialect, then the mirror change and its change event, then one audit
  statement for the request, and publishing once the transaction has committed.
- `writes.py`: each write's mirror change and change event (no dialect, no audit).
"""
