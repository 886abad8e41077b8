"""The oracle catches what it claims to catch, on synthetic bad histories."""

from __future__ import annotations

from tests.oracle import Attempt, audit

BULL = frozenset({"bull"})
DUAL = frozenset({"bull", "temporal"})


def test_clean_history_passes() -> None:
    attempts = [
        Attempt("a", "ok", BULL),
        Attempt("b", "failed", BULL),
        Attempt("c", "unknown", BULL),
        Attempt("d", "ok", DUAL),
        Attempt("e", "ok", frozenset({"temporal"}), fallback="bull"),
    ]
    found = {"a": {"bull": 1}, "c": {"bull": 1}, "d": {"bull": 1, "temporal": 1}, "e": {"bull": 1}}
    result = audit(attempts, found)
    assert result.passed and result.unknown_resolved == 1, result


def test_catches_a_lost_job() -> None:
    assert audit([Attempt("a", "ok", BULL)], {}).lost == ["a"]


def test_catches_two_runs_or_two_entries() -> None:
    assert audit([Attempt("a", "ok", BULL)], {"a": {"bull": 2}}).duplicated == ["a"]


def test_catches_a_job_in_both_outside_dual() -> None:
    result = audit([Attempt("a", "ok", frozenset({"temporal"}), fallback="bull")],
                   {"a": {"bull": 1, "temporal": 1}})  # fmt: skip
    assert result.duplicated == ["a"] and not result.passed


def test_catches_a_misrouted_job() -> None:
    assert audit([Attempt("a", "ok", BULL)], {"a": {"temporal": 1}}).misrouted == ["a"]


def test_catches_a_false_failure() -> None:
    assert audit([Attempt("a", "failed", BULL)], {"a": {"bull": 1}}).false_fail == ["a"]


def test_unknown_found_twice_is_flagged() -> None:
    result = audit([Attempt("a", "unknown", BULL)], {"a": {"bull": 2}})
    assert result.unknown_unresolved == ["a"] and not result.passed
