"""The `tenant` label of `/metrics` as the deployment wants it (issue 16).

Tenant ids in labels tell whoever reads `/metrics` which tenants exist. A deployment can
keep them (`id`, the default: dashboards and alerts name the tenant), replace each by the
first 16 hex digits of its SHA-256 (`hashed`: series stay per tenant, an operator maps a
hash back with `scimsync status --json`), or drop the label (`none`): series that differ
only by tenant are merged, summed, except gauges, which keep the maximum (the oldest
unapplied event, the latest reconcile).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Literal, Protocol

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

TenantLabelMode = Literal["id", "hashed", "none"]
LABEL = "tenant"


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


def tenant_hash(tenant_id: str) -> str:
    return hashlib.sha256(tenant_id.encode()).hexdigest()[:16]


class TenantLabels:
    """`registry`'s metrics with the tenant label rewritten (what `generate_latest` reads)."""

    def __init__(self, registry: Collector, mode: TenantLabelMode) -> None:
        self._registry = registry
        self._mode = mode

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            if self._mode == "id" or not any(LABEL in s.labels for s in family.samples):
                yield family
            else:
                yield self._relabelled(family)

    def _relabelled(self, family: Metric) -> Metric:
        out = Metric(family.name, family.documentation, family.type, family.unit)
        if self._mode == "hashed":
            out.samples = [
                s._replace(labels={**s.labels, LABEL: tenant_hash(s.labels[LABEL])})
                if LABEL in s.labels and s.labels[LABEL] != "-"
                else s
                for s in family.samples
            ]
            return out
        merged: dict[tuple[str, tuple[tuple[str, str], ...]], Sample] = {}
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != LABEL}
            key = (sample.name, tuple(sorted(labels.items())))
            seen = merged.get(key)
            if seen is None:
                merged[key] = sample._replace(labels=labels, exemplar=None)
            else:
                merged[key] = seen._replace(value=self._merge(family, sample, seen.value))
        out.samples = list(merged.values())
        return out

    @staticmethod
    def _merge(family: Metric, sample: Sample, value: float) -> float:
        if sample.name.endswith("_created"):
            return min(value, sample.value)
        if family.type == "gauge":
            return max(value, sample.value)
        return value + sample.value
