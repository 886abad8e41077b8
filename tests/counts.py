"""Metric deltas for tests: ``counts = Counts()`` now, ``counts("name", label=...)`` later.

The metrics live in prometheus-client's process-wide registry, shared by every router a
test run creates, so a test asserts on what changed since it started, never on totals.
"""

from __future__ import annotations

from prometheus_client import REGISTRY


def _snapshot() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for metric in REGISTRY.collect()
        for sample in metric.samples
    }


class Counts:
    def __init__(self) -> None:
        self._before = _snapshot()

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return _snapshot().get(key, 0.0) - self._before.get(key, 0.0)
