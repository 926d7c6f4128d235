"""Context → typed props: documented defaults, command-line spellings, and clear errors."""

from __future__ import annotations

import json
import re

import pytest

import cdk.config
from cdk.config import DEFAULT_ALLOWED_MODELS, ConfigError, TokencastConfig, context_keys
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


@pytest.mark.parametrize(
    "context,message",
    [
        (
            {"maxConcurrency": 1},
            "maxConcurrency: Input should be greater than or equal to 2, got 1 (SQS event sources accept 2..1000)",
        ),
        ({"maxConcurrency": "many"}, "maxConcurrency: Input should be a valid integer"),
        (
            {"maxAttempts": 999},
            "maxAttempts: Input should be less than or equal to 998, got 999 (the DLQ's maxReceiveCount",
        ),
        ({"allowedModels": " , "}, "allowedModels: Tuple should have at least 1 item"),
        ({"defaultModel": "b", "allowedModels": "a"}, "defaultModel: must be one of allowedModels, got 'b'"),
        ({"enableApiKey": "maybe"}, "enableApiKey: Input should be a valid boolean"),
        ({"alarmEmail": "nobody"}, "alarmEmail: String should match pattern"),
        ({"logLevel": "loud"}, "logLevel: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        ({"removalPolicy": "snapshot"}, "removalPolicy: Input should be 'retain' or 'destroy', got 'snapshot'"),
        ({"limits": "{maxTokens: 5}"}, "limits: expected a JSON object, got '{maxTokens: 5}'"),
        ({"limits": "[1]"}, "limits: expected a JSON object"),
        ({"limits": '{"maxTokens": "lots"}'}, "limits.maxTokens: Input should be a valid integer"),
        ({"limits": {"allowedModels": ["x"]}}, "limits.allowedModels: unknown key (known: ['defaultMaxTokens', "),
        ({"quotas": {"maxActiveSessions": 0}}, "quotas.maxActiveSessions: Input should be greater than 0, got 0"),
        ({"stackName": 5}, "stackName: Input should be a valid string, got 5"),
        # pydantic's lax mode would read these as 1 and 2: a typo in a deployment's settings
        ({"maxAttempts": True}, "maxAttempts: expected a whole number, got True (the DLQ's maxReceiveCount"),
        ({"maxConcurrency": 2.0}, "maxConcurrency: expected a whole number, got 2.0"),
        ({"retentionDays": "7.5"}, "retentionDays: expected a whole number, got '7.5'"),
        ({"limits": '{"maxTokens": true}'}, "limits.maxTokens: expected a whole number, got True"),
    ],
)
def test_bad_context_message_says_the_rule_and_the_value(context, message):
    with pytest.raises(ConfigError) as raised:
        TokencastConfig.from_context(context)
    assert str(raised.value).startswith(message)


def test_whole_numbers_arrive_as_numbers_or_as_cli_text():
    """``-c maxAttempts=4`` arrives as text, cdk.json's ``"maxAttempts": 4`` as a number."""
    assert TokencastConfig.from_context({"maxAttempts": "4", "maxConcurrency": 12}).max_attempts == 4
    assert TokencastConfig.from_context({"quotas": {"maxActiveSessions": None}}).quotas.max_active_sessions is None


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(ConfigError) as raised:
        TokencastConfig.from_context({"maxConcurrency": 1, "logLevel": "loud", "quotas": {"maxActive": 1}})
    assert [p.split(":")[0] for p in str(raised.value).split("; ")] == [
        "maxConcurrency",
        "quotas.maxActive",
        "logLevel",
    ]


def test_python_callers_get_config_errors_too():
    """Building the props in Python (another CDK app) checks the same rules, by field name or key."""
    assert TokencastConfig(max_concurrency=20).max_concurrency == TokencastConfig(maxConcurrency=20).max_concurrency
    with pytest.raises(ConfigError, match="max_concurrency: Input should be greater than or equal to 2"):
        TokencastConfig(max_concurrency=1)
    with pytest.raises(ConfigError, match=r"bogus: unknown key \(known: .*'maxConcurrency'"):
        TokencastConfig(bogus=1)


def test_empty_and_null_context_values_keep_the_defaults():
    assert TokencastConfig.from_context({"maxConcurrency": "", "alarmEmail": None}) == TokencastConfig()


def test_the_docstring_table_lists_every_context_key_in_order():
    """The module docstring is the reference users read: it names exactly the keys read."""
    documented = re.findall(r"^\| ``(\w+)``", cdk.config.__doc__ or "", flags=re.MULTILINE)
    assert documented == context_keys()


@pytest.mark.parametrize("days,expected", [(1, 1), (7, 7), (8, 14), (10, 14), (365, 365), (5000, 3653)])
def test_log_retention_rounds_up_to_a_cloudwatch_value(days, expected):
    names = {1: "ONE_DAY", 7: "ONE_WEEK", 14: "TWO_WEEKS", 365: "ONE_YEAR", 3653: "TEN_YEARS"}
    assert log_retention(days).name == names[expected]
