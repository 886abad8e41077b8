"""Settings: the env var names teams already use, precedence, and errors that name the var."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from queue_router import ConfigError, Mode, QueueRouter, Settings, UnknownQueueError
from queue_router.config.catalogue import DEFAULT_CATALOGUE

ALL_VARS = [
    "TEMPORAL_TRAFFIC_PERCENTAGE", "TEMPORAL_ROLLOUT", "USE_TEMPORAL_WORKFLOWS", "BULL_FALLBACK",
    "TEMPORAL_DUAL_WRITE", "TEMPORAL_SHADOW_MODE", "EMAIL_QUEUE_BACKEND", "DOCUMENT_QUEUE_BACKEND",
    "AI_QUEUE_BACKEND", "RULING_QUEUE_BACKEND", "WEBHOOK_QUEUE_BACKEND",
    "NOTIFICATION_QUEUE_BACKEND", "TEMPORAL_CLUSTER_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE",
    "TEMPORAL_TASK_QUEUE", "TEMPORAL_TLS_ENABLED", "TEMPORAL_SERVER_NAME", "REDIS_URL",
    "TEMPORAL_SERVER_ROOT_CA_CERT_PATH", "TEMPORAL_CLIENT_CERT_PATH",
    "TEMPORAL_CLIENT_PRIVATE_KEY_PATH", "QUEUE_ROUTER_QUEUES", "QUEUE_ROUTER_LEGACY_BACKEND",
    "REDIS_CLUSTER_NODES", "BULL_PREFIX", "REDIS_TLS_CA_CERT_PATH", "REDIS_TLS_CERT_PATH",
    "REDIS_TLS_KEY_PATH", "TEMPORAL_API_KEY",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_defaults_route_everything_to_bull() -> None:
    settings = Settings.from_env()
    for name in DEFAULT_CATALOGUE:
        config = settings.queue(name)
        assert (config.mode, config.percentage, config.legacy) == (Mode.PERCENTAGE, 0, "bull")
    assert settings.queue("email-send-welcome").workflow_type == "emailSending"
    assert settings.queue("webhook-deliver").workflow_type == "webhookDelivery"


def test_the_migration_guide_variables(clean_env: pytest.MonkeyPatch) -> None:
    env = {
        "TEMPORAL_TRAFFIC_PERCENTAGE": "25.5",
        "BULL_FALLBACK": "false",
        "TEMPORAL_ADDRESS": "temporal.internal:7233",
        "TEMPORAL_NAMESPACE": "prod",
        "TEMPORAL_TASK_QUEUE": "jobs",
        "REDIS_URL": "redis://cache:6379/2",
    }
    for var, value in env.items():
        clean_env.setenv(var, value)
    settings = Settings.from_env()
    assert settings.routing.percentage == 25.5
    assert settings.routing.bull_fallback is False
    assert settings.temporal.temporal_cluster_url == "temporal.internal:7233"
    assert (settings.temporal.temporal_namespace, settings.temporal.temporal_task_queue) == (
        "prod",
        "jobs",
    )
    assert settings.redis.redis_url == "redis://cache:6379/2"


def test_rollout_alias_and_use_temporal_workflows(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_ROLLOUT", "40")
    assert Settings.from_env().routing.percentage == 40
    clean_env.delenv("TEMPORAL_ROLLOUT")
    clean_env.setenv("USE_TEMPORAL_WORKFLOWS", "true")
    assert Settings.from_env().routing.percentage == 100


def test_precedence_override_beats_domain_beats_global(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_TRAFFIC_PERCENTAGE", "10")
    clean_env.setenv("TEMPORAL_DUAL_WRITE", "true")
    clean_env.setenv("EMAIL_QUEUE_BACKEND", "temporal")
    clean_env.setenv(
        "QUEUE_ROUTER_QUEUES",
        json.dumps({"email-send": {"mode": "percentage", "percentage": 75, "task_queue": "mail"}}),
    )
    settings = Settings.from_env()
    override, domain, glob = (
        settings.queue(q) for q in ("email-send", "email-send-welcome", "ruling-index")
    )
    assert (override.mode, override.percentage, override.task_queue) == (
        Mode.PERCENTAGE, 75, "mail"
    )  # fmt: skip
    assert (domain.mode, domain.percentage) == (Mode.TEMPORAL, 10)
    assert (glob.mode, glob.percentage) == (Mode.DUAL, 10)


def test_shadow_switch_and_rq_domain(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_SHADOW_MODE", "true")
    clean_env.setenv("AI_QUEUE_BACKEND", "rq")
    settings = Settings.from_env()
    assert settings.queue("webhook-deliver").mode is Mode.SHADOW
    ai = settings.queue("ai-process-query")
    assert (ai.mode, ai.legacy) == (Mode.RQ, "rq")


def test_overrides_can_add_a_queue(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(
        "QUEUE_ROUTER_QUEUES",
        json.dumps({"invoice-render": {"workflow_type": "invoiceRender", "legacy": "rq"}}),
    )
    config = Settings.from_env().queue("invoice-render")
    assert (config.workflow_type, config.legacy) == ("invoiceRender", "rq")


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("TEMPORAL_TRAFFIC_PERCENTAGE", "150", "TEMPORAL_TRAFFIC_PERCENTAGE='150': must be a number from 0 to 100"),
        ("TEMPORAL_TRAFFIC_PERCENTAGE", "-1", "from 0 to 100"),
        ("TEMPORAL_TRAFFIC_PERCENTAGE", "12.345", "at most two decimals"),
        ("TEMPORAL_ROLLOUT", "lots", "must be a number"),
        ("EMAIL_QUEUE_BACKEND", "kafka", "EMAIL_QUEUE_BACKEND='kafka': allowed: 'bull', 'rq' or 'temporal'"),
        ("BULL_FALLBACK", "maybe", "BULL_FALLBACK='maybe': allowed: true/false"),
        ("TEMPORAL_CLIENT_CERT_PATH", "/nonexistent/client.pem", "TEMPORAL_CLIENT_CERT_PATH=/nonexistent/client.pem: no such file"),
        ("QUEUE_ROUTER_QUEUES", "{not json", "QUEUE_ROUTER_QUEUES must be a JSON object"),
        ("QUEUE_ROUTER_QUEUES", '{"email-send": {"mode": "kafka"}}', "QUEUE_ROUTER_QUEUES['email-send'].mode='kafka'"),
        ("QUEUE_ROUTER_QUEUES", '{"emial-send": {"mode": "temporal"}}', "did you mean email-send"),
        ("QUEUE_ROUTER_QUEUES", '{"email-send": {"job_name": ""}}', "QUEUE_ROUTER_QUEUES['email-send'].job_name"),
        ("QUEUE_ROUTER_QUEUES", json.dumps({"email-send": {"job_name": "n" * 257}}), "job_name"),
        ("QUEUE_ROUTER_SHADOW_STARTS", "thread", "QUEUE_ROUTER_SHADOW_STARTS='thread'"),
        ("QUEUE_ROUTER_SHADOW_BACKLOG_MAX", "0", "QUEUE_ROUTER_SHADOW_BACKLOG_MAX='0': must be > 0"),
        ("QUEUE_ROUTER_SHADOW_BACKLOG_MAX_BYTES", "1GB", "QUEUE_ROUTER_SHADOW_BACKLOG_MAX_BYTES='1GB'"),
        ("QUEUE_ROUTER_SHADOW_MAX_WAITING_BYTES", "-1", "QUEUE_ROUTER_SHADOW_MAX_WAITING_BYTES='-1'"),
    ],
)  # fmt: skip
def test_bad_values_name_the_variable(
    clean_env: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    clean_env.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        QueueRouter.from_env()  # fails before any connection is attempted
    assert expected in str(info.value)


def test_conflicting_switches_are_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TEMPORAL_DUAL_WRITE", "1")
    clean_env.setenv("TEMPORAL_SHADOW_MODE", "1")
    with pytest.raises(ConfigError, match="choose one"):
        Settings.from_env()
    clean_env.delenv("TEMPORAL_SHADOW_MODE")
    clean_env.setenv("USE_TEMPORAL_WORKFLOWS", "true")
    clean_env.setenv("TEMPORAL_TRAFFIC_PERCENTAGE", "30")
    with pytest.raises(ConfigError, match="USE_TEMPORAL_WORKFLOWS=true means 100%"):
        Settings.from_env()


def test_tls_files_are_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text(f"-----{name}-----")
    clean_env.setenv("TEMPORAL_TLS_ENABLED", "true")
    clean_env.setenv("TEMPORAL_SERVER_NAME", "temporal.example")
    clean_env.setenv("TEMPORAL_SERVER_ROOT_CA_CERT_PATH", str(tmp_path / "ca.pem"))
    clean_env.setenv("TEMPORAL_CLIENT_CERT_PATH", str(tmp_path / "client.pem"))
    clean_env.setenv("TEMPORAL_CLIENT_PRIVATE_KEY_PATH", str(tmp_path / "client.key"))
    from queue_router.wiring import tls_config

    tls = tls_config(Settings.from_env())
    assert not isinstance(tls, bool)
    assert tls.domain == "temporal.example"
    assert tls.client_private_key == b"-----client.key-----"
    clean_env.delenv("TEMPORAL_CLIENT_PRIVATE_KEY_PATH")
    with pytest.raises(ConfigError, match="go together"):
        Settings.from_env()


def test_unknown_queue_suggests_close_names() -> None:
    with pytest.raises(UnknownQueueError, match="did you mean email-send"):
        Settings.from_env().queue("emial-send")


def test_redis_cluster_needs_a_hash_tagged_bull_prefix_and_no_rq(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("REDIS_CLUSTER_NODES", "10.0.0.1:7000,10.0.0.2:7000")
    with pytest.raises(
        ConfigError, match=r"BULL_PREFIX='bull' has no hash tag.*BULL_PREFIX=\{bull\}"
    ):
        Settings.from_env()
    clean_env.setenv("BULL_PREFIX", "{bull}")
    settings = Settings.from_env()
    assert settings.redis.cluster_nodes() == [("10.0.0.1", 7000), ("10.0.0.2", 7000)]
    clean_env.setenv("QUEUE_ROUTER_QUEUES", json.dumps({"email-send": {"legacy": "rq"}}))
    with pytest.raises(ConfigError, match=r"RQ does not support Redis Cluster.*email-send"):
        Settings.from_env()
    clean_env.setenv("REDIS_CLUSTER_NODES", "10.0.0.1")
    with pytest.raises(ConfigError, match=r"REDIS_CLUSTER_NODES.*'10.0.0.1' is not host:port"):
        Settings.from_env()


def test_redis_tls_files_need_a_rediss_url(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    clean_env.setenv("REDIS_TLS_CA_CERT_PATH", str(ca))
    with pytest.raises(ConfigError, match="REDIS_URL does not start with rediss://"):
        Settings.from_env()
    clean_env.setenv("REDIS_URL", "rediss://cache:6380/0")
    assert Settings.from_env().redis.tls() is not None
    clean_env.setenv("REDIS_TLS_CERT_PATH", str(ca))
    with pytest.raises(ConfigError, match="REDIS_TLS_CERT_PATH and REDIS_TLS_KEY_PATH go together"):
        Settings.from_env()


def test_a_misspelled_variable_is_warned_about_with_a_suggestion(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clean_env.setenv("TEMPORAL_TRAFIC_PERCENTAGE", "30")
    clean_env.setenv("EMAIL_QUEUE_BACKEN", "temporal")  # not ours: no _QUEUE_BACKEND suffix
    clean_env.setenv("EMIAL_QUEUE_BACKEND", "temporal")
    clean_env.setenv("TEMPORAL_CODEC_ENDPOINT", "http://codec")  # the Temporal CLI's own
    with caplog.at_level("WARNING", logger="queue_router.config"):
        assert Settings.from_env().routing.percentage == 0
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "EMIAL_QUEUE_BACKEND is set but queue-router reads no such variable; "
        "did you mean EMAIL_QUEUE_BACKEND?",
        "TEMPORAL_TRAFIC_PERCENTAGE is set but queue-router reads no such variable; "
        "did you mean TEMPORAL_TRAFFIC_PERCENTAGE?",
    ]


def test_an_alias_pair_that_disagrees_is_refused_naming_both(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("TEMPORAL_TRAFFIC_PERCENTAGE", "30")
    clean_env.setenv("TEMPORAL_ROLLOUT", "40")
    with pytest.raises(
        ConfigError, match="TEMPORAL_TRAFFIC_PERCENTAGE='30' and TEMPORAL_ROLLOUT='40'"
    ):
        Settings.from_env()
    clean_env.setenv("TEMPORAL_ROLLOUT", "30")  # agreeing is fine
    assert Settings.from_env().routing.percentage == 30


@pytest.mark.parametrize("url", ["localhost:6379", "cache:6379/0", "http://cache:6379"])
def test_a_redis_url_without_a_redis_scheme_names_redis_url(
    clean_env: pytest.MonkeyPatch, url: str
) -> None:
    clean_env.setenv("REDIS_URL", url)
    with pytest.raises(ConfigError, match="REDIS_URL: needs a scheme: redis://"):
        Settings.from_env()
