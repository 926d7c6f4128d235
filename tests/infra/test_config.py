"""Context → typed props: documented defaults, command-line spellings, and clear errors."""

from __future__ import annotations

import json

import pytest

from cdk.config import DEFAULT_ALLOWED_MODELS, ConfigError, TokencastConfig
from cdk.stack import log_retention
from tokencast.config import Limits, Settings

EMPTY: dict = {}


def test_defaults_are_the_runtime_defaults():
    cfg = TokencastConfig.from_context(EMPTY)
    assert cfg.stack_name == "Tokencast"
    assert cfg.allowed_models == DEFAULT_ALLOWED_MODELS
    assert cfg.limits.default_model == DEFAULT_ALLOWED_MODELS[0]
    assert cfg.flush_window_ms == Settings.model_fields["flush_window_ms"].default
    assert cfg.max_attempts == Settings.model_fields["max_attempts"].default
    assert cfg.retention_days == Settings.model_fields["session_ttl_days"].default
    assert (cfg.max_concurrency, cfg.enable_api_key, cfg.user_pool_id, cfg.alarm_email) == (10, False, None, None)
    assert (cfg.log_level, cfg.removal_policy, cfg.bundle_dependencies) == ("INFO", "retain", True)
    # Limits other than the model list are the runtime's own defaults.
    defaults = Limits()
    for name in ("max_prompt_chars", "max_system_chars", "max_messages", "max_message_chars", "max_tokens"):
        assert getattr(cfg.limits, name) == getattr(defaults, name)


def test_command_line_spellings():
    cfg = TokencastConfig.from_context(
        {
            "allowedModels": "us.anthropic.claude-haiku-4-5-20251001-v1:0, amazon.nova-lite-v1:0",
            "maxConcurrency": "50",
            "enableApiKey": "true",
            "bundleDependencies": "false",
            "limits": json.dumps({"maxTokens": 512, "max_messages": 4}),
            "logLevel": "warning",
            "removalPolicy": "DESTROY",
        }
    )
    assert cfg.allowed_models == ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.nova-lite-v1:0")
    assert (cfg.max_concurrency, cfg.enable_api_key, cfg.bundle_dependencies) == (50, True, False)
    assert (cfg.limits.max_tokens, cfg.limits.max_messages) == (512, 4)
    assert (cfg.log_level, cfg.removal_policy) == ("WARNING", "destroy")


def test_settings_carry_the_queue_numbers_and_ttl():
    cfg = TokencastConfig.from_context(
        {"workerTimeoutSeconds": 600, "retentionDays": 30, "maxAttempts": 4, "jobVisibilitySeconds": 20}
    )
    s = cfg.settings(table_name="t")
    assert (s.worker_timeout_s, s.queue_visibility_timeout_s, s.visibility_timeout_s) == (600, 660, 20)
    assert (s.max_attempts, s.redrive_max_receive_count) == (4, 6)
    assert s.session_ttl_days == 30


def test_quotas_and_api_limits_from_context():
    cfg = TokencastConfig.from_context(
        {
            "quotas": '{"maxActiveSessions": 2, "maxStartsPerMinute": null, "maxTokensPerDay": 100000}',
            "queryDepthLimit": "5",
            "resolverCountLimit": 10,
            "enableIntrospection": "true",
        }
    )
    assert (cfg.quotas.max_active_sessions, cfg.quotas.max_starts_per_minute) == (2, None)
    assert cfg.quotas.max_tokens_per_day == 100_000
    assert (cfg.api_limits.query_depth_limit, cfg.api_limits.resolver_count_limit) == (5, 10)
    assert cfg.api_limits.introspection is True
    assert TokencastConfig().api_limits.introspection is False


@pytest.mark.parametrize(
    "context,key",
    [
        ({"maxConcurrency": 1}, "maxConcurrency"),
        ({"maxConcurrency": 1001}, "maxConcurrency"),
        ({"maxConcurrency": "many"}, "maxConcurrency"),
        ({"maxAttempts": 0}, "maxAttempts"),
        ({"allowedModels": []}, "allowedModels"),
        ({"defaultModel": "not.allowed-v1:0"}, "defaultModel"),
        ({"enableApiKey": "maybe"}, "enableApiKey"),
        ({"alarmEmail": "nobody"}, "alarmEmail"),
        ({"limits": {"maxTokenz": 5}}, "limits.maxTokenz"),
        ({"limits": {"maxTokens": -1}}, "limits"),
        ({"limits": {"allowedModels": ["x"]}}, "limits.allowedModels"),
        ({"userPoolId": "not a pool"}, "userPoolId"),
        ({"workerTimeoutSeconds": 901}, "workerTimeoutSeconds"),
        ({"removalPolicy": "snapshot"}, "removalPolicy"),
        ({"logLevel": "LOUD"}, "logLevel"),
        ({"queryDepthLimit": 76}, "queryDepthLimit"),
        ({"resolverCountLimit": 0}, "resolverCountLimit"),
        ({"quotas": {"maxActive": 1}}, "quotas.maxActive"),
        ({"quotas": {"maxActiveSessions": 0}}, "quotas"),
        ({"jobVisibilitySeconds": 120}, "jobVisibilitySeconds"),
        ({"maxAttempts": 999}, "maxAttempts"),
    ],
)
def test_bad_context_names_the_key(context, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        TokencastConfig.from_context(context)


@pytest.mark.parametrize("days,expected", [(1, 1), (7, 7), (8, 14), (10, 14), (365, 365), (5000, 3653)])
def test_log_retention_rounds_up_to_a_cloudwatch_value(days, expected):
    names = {1: "ONE_DAY", 7: "ONE_WEEK", 14: "TWO_WEEKS", 365: "ONE_YEAR", 3653: "TEN_YEARS"}
    assert log_retention(days).name == names[expected]
