"""tokencast.local.admin_client against the local model's admin endpoints (no stack needed)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tokencast.local.admin_client import AdminClient, AdminError, StackUnreachable
from tokencast.local.bedrock.server import FaultRule, LocalBedrock, LocalBedrockConfig, ThreadedServer


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(LocalBedrock(LocalBedrockConfig()), api_key="admin-test-key") as srv:
        yield srv


def test_model_faults_round_trip_with_the_key(server: ThreadedServer) -> None:
    admin = AdminClient(server.url, "admin-test-key")
    ids = admin.add_model_faults(
        FaultRule(kind="throttle", match="#a"), {"kind": "slow", "delay_s": 0.1, "times": None}
    )
    assert [r["id"] for r in admin.model_faults()] == ids
    assert [r["kind"] for r in admin.model_faults()] == ["throttle", "slow"]
    admin.add_model_faults({"kind": "stall", "after": 2}, replace=True)
    assert [r["kind"] for r in admin.model_faults()] == ["stall"]
    admin.clear_model_faults()
    assert admin.model_faults() == []
    assert admin.model_stats()["requests"] == 0
    admin.reset_model_stats()


def test_refusals_carry_the_status_and_the_rule(server: ThreadedServer) -> None:
    with pytest.raises(AdminError) as refused:
        AdminClient(server.url, "wrong").model_stats()
    assert refused.value.status == 401 and "x-api-key" in refused.value.message
    with pytest.raises(AdminError) as refused:
        AdminClient(server.url, "admin-test-key").add_model_faults({"kind": "stall", "after": -1})
    assert refused.value.status == 400 and "after" in refused.value.message


def test_an_address_nobody_serves_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StackUnreachable):
        AdminClient(f"http://127.0.0.1:{port}", "k", timeout_s=2).model_stats()
