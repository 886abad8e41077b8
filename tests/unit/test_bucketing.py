"""Bucketing compatible with flag services, checked through ``router.route()``.

Vectors come from the projects' own published test suites, so a key is assigned here
exactly as the team's flag service assigns it:

- Unleash client specification (github.com/Unleash/client-specification),
  ``specifications/03-gradual-rollout-user-id-strategy.json`` and
  ``specifications/10-flexible-rollout-strategy.json``: (groupId, userId, percentage,
  enabled);
- flagd testbed (github.com/open-feature/flagd-testbed), ``gherkin/targeting.feature``,
  ``@fractional-v2``: the shorthand flag ``fractional-flag-shorthand`` (two equal
  variants: first = Temporal at 50%) and the hash edge-case keys (seed = the key alone:
  hash 0, 1, 2^31-1 -> lower half; 2^31, 2^32-1 -> upper half).
"""

from __future__ import annotations

import pytest

from queue_router import ConfigError, QueueRouter, Settings
from queue_router.testing import MemoryBackend


def route_to_temporal(bucketing: dict[str, str], key: str, percentage: float) -> tuple[bool, str]:
    queues = {"q": {"workflow_type": "w", "mode": "percentage", "percentage": percentage,
                    "bucketing": bucketing}}  # fmt: skip
    backends = {n: MemoryBackend(n) for n in ("bull", "rq", "temporal")}
    router = QueueRouter(Settings.from_env(queues=queues), backends=backends)
    route = router.route("q", key)
    return route.to_temporal, route.bucketing


@pytest.mark.parametrize(
    ("group_id", "user_id", "percentage", "enabled"),
    [
        ("AB12A", "123", 100, True),
        ("AB12A", "122", 50, True),
        ("AB12A", "155", 50, False),
        ("AB12A", "122", 0, False),
        ("Feature.flexibleRollout.10", "174", 10, True),
        ("Feature.flexibleRollout.10", "499", 10, False),
        ("Feature.flexibleRollout.userId.55", "25", 55, True),
        ("Feature.flexibleRollout.sessionId.42", "147", 42, True),
    ],
)
def test_unleash_client_specification_vectors(
    group_id: str, user_id: str, percentage: int, enabled: bool
) -> None:
    bucketing = {"strategy": "unleash", "group_id": group_id}
    assert route_to_temporal(bucketing, user_id, percentage) == (enabled, "unleash")


@pytest.mark.parametrize(
    ("flag_key", "targeting_key", "temporal"),
    [
        ("fractional-flag-shorthand", "jon@company.com", True),  # heads: the first variant
        ("fractional-flag-shorthand", "jane@company.com", False),  # tails
        ("", "ejOoVL", True),  # hash 0
        ("", "bY9fO-", True),  # hash 1
        ("", "SI7p-", True),  # hash 2^31 - 1
        ("", "6LvT0", False),  # hash 2^31
        ("", "ceQdGm", False),  # hash 2^32 - 1
    ],
)
def test_flagd_testbed_fractional_vectors(
    flag_key: str, targeting_key: str, temporal: bool
) -> None:
    bucketing = {"strategy": "flagd", "flag_key": flag_key}
    assert route_to_temporal(bucketing, targeting_key, 50) == (temporal, "flagd")


def test_flagd_bucket_values_of_the_testbed() -> None:
    """jon@company.com is bucket 36 of 100 in the testbed (seed = targeting key alone)."""
    bucketing = {"strategy": "flagd", "flag_key": ""}
    assert route_to_temporal(bucketing, "jon@company.com", 37) == (True, "flagd")
    assert route_to_temporal(bucketing, "jon@company.com", 36) == (False, "flagd")
    assert route_to_temporal(bucketing, "user1", 77) == (True, "flagd")
    assert route_to_temporal(bucketing, "user1", 76) == (False, "flagd")


def test_a_salt_moves_a_different_share_of_users() -> None:
    keys = [f"user-{i}" for i in range(2000)]
    plain_router, salted_router = (
        QueueRouter(Settings.from_env(queues={"q": {"workflow_type": "w", "percentage": 10,
                                                    "bucketing": b}}),
                    backends={n: MemoryBackend(n) for n in ("bull", "rq", "temporal")})
        for b in ({"strategy": "queue-router"}, {"salt": "invoices"})
    )  # fmt: skip
    plain = {k for k in keys if plain_router.route("q", k).to_temporal}
    salted = {k for k in keys if salted_router.route("q", k).to_temporal}
    assert 150 < len(plain) < 250 and 150 < len(salted) < 250
    assert len(plain & salted) < 60, "two queues at 10% should not move the same users"


@pytest.mark.parametrize(
    ("bucketing", "problem"),
    [
        ({"strategy": "unleash"}, "needs 'group_id'"),
        ({"strategy": "flagd"}, "needs 'flag_key'"),
        ({"strategy": "flagd", "flag_key": "f", "salt": "s"}, "salt is for the queue-router"),
        ({"strategy": "launchdarkly"}, "strategy"),
    ],
)
def test_bad_bucketing_names_the_queue(bucketing: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as info:
        Settings.from_env(queues={"q": {"workflow_type": "w", "bucketing": bucketing}})
    assert "QUEUE_ROUTER_QUEUES['q'].bucketing" in str(info.value)
