"""TLS and mutual TLS, proven through TLS-terminating proxies with certificates made here.

The dev servers have no TLS, so a proxy (``tests/tls_proxy.py``) that requires a client
certificate stands in front of each. Every component connects through it: the router,
the worker, the CLI; a wrong CA or a missing client certificate fails naming the setting.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from temporalio.client import Client

from queue_router import CredentialsRejected, NotEnqueuedError, QueueRouter
from queue_router.testing.devservers import RedisServer, TemporalServer
from tests.conftest import run_cli, worker_env
from tests.tls_proxy import Certificates, TLSProxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def redis_tls(redis_server: RedisServer, certs: Certificates) -> AsyncIterator[TLSProxy]:
    proxy = TLSProxy(redis_server.port, certs)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def temporal_tls(
    temporal_server: TemporalServer, certs: Certificates
) -> AsyncIterator[TLSProxy]:
    proxy = TLSProxy(temporal_server.port, certs, alpn=["h2"])
    await proxy.start()
    yield proxy
    await proxy.close()


def redis_fields(proxy: TLSProxy, certs: Certificates, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "redis_url": f"rediss://127.0.0.1:{proxy.port}/0",
        "redis_tls_ca_cert_path": certs.ca_path,
        "redis_tls_cert_path": certs.client_cert_path,
        "redis_tls_key_path": certs.client_key_path,
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def temporal_fields(proxy: TLSProxy, certs: Certificates, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "temporal_cluster_url": f"127.0.0.1:{proxy.port}",
        "temporal_tls_enabled": True,
        "temporal_server_name": "localhost",
        "temporal_server_root_ca_cert_path": certs.ca_path,
        "temporal_client_cert_path": certs.client_cert_path,
        "temporal_client_private_key_path": certs.client_key_path,
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def as_env(fields: dict[str, Any]) -> dict[str, str]:
    names = {
        "redis_url": "REDIS_URL", "redis_tls_ca_cert_path": "REDIS_TLS_CA_CERT_PATH",
        "redis_tls_cert_path": "REDIS_TLS_CERT_PATH", "redis_tls_key_path": "REDIS_TLS_KEY_PATH",
        "temporal_cluster_url": "TEMPORAL_CLUSTER_URL", "temporal_tls_enabled": "TEMPORAL_TLS_ENABLED",
        "temporal_server_name": "TEMPORAL_SERVER_NAME",
        "temporal_server_root_ca_cert_path": "TEMPORAL_SERVER_ROOT_CA_CERT_PATH",
        "temporal_client_cert_path": "TEMPORAL_CLIENT_CERT_PATH",
        "temporal_client_private_key_path": "TEMPORAL_CLIENT_PRIVATE_KEY_PATH",
    }  # fmt: skip
    return {names[k]: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}


async def test_redis_over_mutual_tls_for_bull_rq_and_the_cli(
    make_router: Callable[..., Any], redis_tls: TLSProxy, certs: Certificates,
    redis_db: redis.Redis,
) -> None:  # fmt: skip
    fields = redis_fields(redis_tls, certs)
    queues = {"email-send": {"mode": "bull"}, "webhook-deliver": {"mode": "rq"}}
    router: QueueRouter = await make_router(queues=queues, **fields)
    bull = await router.enqueue("email-send", {"n": 1}, job_id="tls-1")
    rq = await router.enqueue("webhook-deliver", {"n": 2}, job_id="tls-2")
    assert (bull.backends, rq.backends) == (("bull",), ("rq",))
    assert redis_db.exists("bull:email-send:tls-1") and redis_db.exists("rq:job:tls-2")
    stats = await asyncio.to_thread(run_cli, ["stats", "--queue", "email-send", "--json"], {
        **as_env(fields), "TEMPORAL_CLUSTER_URL": router.settings.temporal.temporal_cluster_url,
    })  # fmt: skip
    assert stats.returncode == 0, stats.stderr
    assert "tls-1" not in stats.stderr and json.loads(stats.stdout)


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"redis_tls_ca_cert_path": "wrong"}, "REDIS_TLS_CA_CERT_PATH"),
        ({"redis_tls_cert_path": None, "redis_tls_key_path": None}, "REDIS_TLS_CERT_PATH"),
    ],
    ids=["wrong CA", "no client certificate"],
)
async def test_redis_tls_misconfiguration_names_the_setting(
    make_settings: Callable[..., Any], redis_tls: TLSProxy, certs: Certificates,
    redis_db: redis.Redis, change: dict[str, Any], setting: str,
) -> None:  # fmt: skip
    if change.get("redis_tls_ca_cert_path") == "wrong":
        change = {"redis_tls_ca_cert_path": certs.wrong_ca_path}
    settings = make_settings(queues={"email-send": {"mode": "bull"}},
                             **redis_fields(redis_tls, certs, **change))  # fmt: skip
    router = QueueRouter(settings)
    with pytest.raises(CredentialsRejected, match=setting):
        await router.startup()
    unstarted = QueueRouter(settings)
    try:
        with pytest.raises(NotEnqueuedError, match=setting):
            await unstarted.enqueue("email-send", {}, job_id="tls-bad")
    finally:
        await unstarted.aclose()
    assert not redis_db.exists("bull:email-send:tls-bad")


async def test_temporal_over_mutual_tls_for_router_worker_and_cli(
    make_settings: Callable[..., Any], make_router: Callable[..., Any],
    spawn_worker: Callable[..., subprocess.Popen[bytes]], temporal_tls: TLSProxy,
    certs: Certificates, temporal_client: Client, task_queue: str,
) -> None:  # fmt: skip
    fields = temporal_fields(temporal_tls, certs)
    invoices = {"invoice-render": {"workflow_type": "invoiceRender"}}
    router: QueueRouter = await make_router(use_temporal_workflows=True, bull_fallback=False,
                                            queues=invoices, **fields)  # fmt: skip
    receipt = await router.enqueue("invoice-render", {"order": 5}, job_id="tls-inv")
    assert receipt.backends == ("temporal",)
    worker = spawn_worker(["worker"], {
        **worker_env(make_settings()), **as_env(fields),
        "QUEUE_ROUTER_QUEUES": json.dumps(invoices),
    })  # fmt: skip
    handle = temporal_client.get_workflow_handle(receipt.placements[0].job_id)
    result = await asyncio.wait_for(handle.result(), 60)
    assert result["result"] == {"invoice": "INV-5", "runtime": "temporal"}
    assert worker.poll() is None
    health = await asyncio.to_thread(run_cli, ["stats", "--queue", "email-send", "--json"], {
        **as_env(fields), "REDIS_URL": router.settings.redis.redis_url,
        "TEMPORAL_TASK_QUEUE": task_queue,
    })  # fmt: skip
    assert health.returncode == 0, health.stderr


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"temporal_server_root_ca_cert_path": "wrong"}, "TEMPORAL_SERVER_ROOT_CA_CERT_PATH"),
        ({"temporal_client_cert_path": None, "temporal_client_private_key_path": None},
         "TEMPORAL_CLIENT_CERT_PATH"),
    ],
    ids=["wrong CA", "no client certificate"],
)  # fmt: skip
async def test_temporal_tls_misconfiguration_names_the_setting(
    make_settings: Callable[..., Any], make_router: Callable[..., Any], temporal_tls: TLSProxy,
    certs: Certificates, change: dict[str, Any], setting: str,
) -> None:  # fmt: skip
    if change.get("temporal_server_root_ca_cert_path") == "wrong":
        change = {"temporal_server_root_ca_cert_path": certs.wrong_ca_path}
    fields = temporal_fields(temporal_tls, certs, **change)
    router: QueueRouter = await make_router(use_temporal_workflows=True, bull_fallback=False,
                                            temporal_retry_ms=200, **fields)  # fmt: skip
    with pytest.raises(NotEnqueuedError, match=setting):
        await router.enqueue("email-send", {}, job_id="tls-bad")
    env = {**worker_env(make_settings()), **as_env(fields)}
    for command, code in ((["worker"], 2), (["stats", "--json"], 1)):  # stats: Redis side shown
        out = await asyncio.to_thread(run_cli, command, env)
        assert out.returncode == code, (command, out.stdout, out.stderr)
        assert setting in out.stderr and "Traceback" not in out.stderr, out.stderr
