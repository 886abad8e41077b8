"""The operator commands: readable output, --help with an example, errors naming the var."""

from __future__ import annotations

import json

import pytest

from queue_router.cli import main
from queue_router.cli.tables import print_table


def test_route_prints_bucket_and_target(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_TRAFFIC_PERCENTAGE", "25")
    assert main(["route", "email-send", "user-42"]) == 0
    assert "bucket 2080" in capsys.readouterr().out  # 2080 < 2500: Temporal
    monkeypatch.setenv("TEMPORAL_TRAFFIC_PERCENTAGE", "20")
    assert main(["route", "email-send", "user-42"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("-> bull")


def test_config_shows_effective_percentage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_TRAFFIC_PERCENTAGE", "25")
    monkeypatch.setenv("EMAIL_QUEUE_BACKEND", "temporal")
    assert main(["config", "--json"]) == 0
    rows = {row["queue"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["email-send"]["mode"], rows["email-send"]["percentage"]) == ("temporal", 100)
    assert rows["ruling-index"]["percentage"] == 25


def test_bad_config_exits_2_naming_the_var(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMAIL_QUEUE_BACKEND", "kafka")
    assert main(["config"]) == 2
    assert "EMAIL_QUEUE_BACKEND='kafka'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        "config",
        "route",
        "set",
        "status",
        "audit",
        "worker",
        "rq-worker",
        "migrate",
        "rollback",
        "stats",
        "health",
        "check-stuck",
        "validate",
        "backup",
        "restore",
        "shadow-report",
        "rollout",
        "reconcile",
        "worker-ramp",
        "dev",
        "import-approvals",
        "list-worker",
    ],
)
def test_help_has_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "example: " in capsys.readouterr().out


OPERATOR_COMMANDS = [
    "config", "route", "set", "status", "audit", "shadow-report", "rollout", "reconcile",
    "worker-ramp", "migrate", "rollback", "stats", "health", "check-stuck", "validate",
    "backup", "restore", "import-approvals",
]  # fmt: skip


@pytest.mark.parametrize("command", OPERATOR_COMMANDS)
def test_every_operator_command_has_json(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--json" in capsys.readouterr().out


def test_route_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "email-send", "user-42", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["queue"], shown["key"], shown["primary"]) == ("email-send", "user-42", "bull")
    assert 0 <= shown["bucket"] < 10_000


def test_table_cells_are_words_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    print_table([{"queue": "q", "legacy": {"waiting": 2, "failed": 0}, "ok": True, "n": None}])
    out = capsys.readouterr().out
    assert "waiting=2 failed=0" in out and "{" not in out and "yes" in out
