"""tokencast.config: one naming rule for the TOKENCAST_* variables, read and written alike."""

from __future__ import annotations

import pytest

from tokencast.config import ENV_PREFIX, Limits, LocalWiring, Quotas, Settings, Wiring


def test_a_variable_is_named_by_its_field_and_an_unknown_field_is_refused():
    assert Settings.env_name("flush_window_ms") == ENV_PREFIX + "FLUSH_WINDOW_MS"
    assert Wiring.env_name("graphql_url") == Settings.env_name("graphql_url")
    with pytest.raises(KeyError, match="flush_window"):
        Settings.env_name("flush_window")


def test_to_env_round_trips_through_from_env():
    settings = Settings(flush_window_ms=20, jobs_queue_url="http://q", coalesce=False, region="eu-west-1")
    assert Settings.from_env(settings.to_env()) == settings
    quotas = Quotas(max_active_sessions=None, max_tokens_per_day=1000)
    assert Quotas.from_env(quotas.to_env()) == quotas
    limits = Limits(allowed_models=["a", "b"], default_model="b")
    assert Limits.from_env(limits.to_env()) == limits


def test_to_env_exclude_unset_writes_only_the_fields_given():
    """An override of one setting leaves every other one to the environment it is merged into."""
    assert Settings(flush_window_ms=20).to_env(exclude_unset=True) == {Settings.env_name("flush_window_ms"): "20"}
    off = Quotas(max_active_sessions=None).to_env(exclude_unset=True)
    assert off == {Quotas.env_name("max_active_sessions"): "off"}
    assert Quotas.from_env(off).max_active_sessions is None


def test_required_wiring_names_every_missing_variable():
    wired = Wiring(jobs_queue_url="http://q", graphql_url="http://api/graphql")
    assert wired.required("graphql_url", "jobs_queue_url") == ["http://api/graphql", "http://q"]
    with pytest.raises(RuntimeError) as missing:
        Wiring(graphql_url="http://api/graphql").required("jobs_queue_url", "graphql_url", "dead_letter_queue_url")
    assert str(missing.value) == "not set: TOKENCAST_JOBS_QUEUE_URL, TOKENCAST_DEAD_LETTER_QUEUE_URL"
    with pytest.raises(KeyError):
        wired.required("jobs_queue")


def test_local_wiring_reads_a_comma_list_of_api_keys():
    env = LocalWiring(local_api_keys=["k1", "k2"]).to_env()
    assert env == {"TOKENCAST_LOCAL_API_KEYS": "k1,k2"}
    assert LocalWiring.from_env({"TOKENCAST_LOCAL_API_KEYS": " k1, ,k2 "}).local_api_keys == ["k1", "k2"]
    assert LocalWiring.from_env({}).local_api_keys == []
