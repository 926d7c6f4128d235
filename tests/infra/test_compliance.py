"""cdk-nag (AwsSolutions) and cfn-lint on the synthesized templates: zero findings."""

from __future__ import annotations

import json

import pytest
from infra_helpers import DEFAULT_STACK, DEV_STACK

#: cfn-lint checks ignored, each with the reason it does not apply.
CFN_LINT_IGNORES = {
    # CDK puts DependsOn: [Role, RoleDefaultPolicy] on a function whose Role it also GetAtt's,
    # so the policy is attached before the function can run; the Role half is redundant, the
    # policy half is not, and CloudFormation accepts both.
    "W3005": "redundant DependsOn emitted by CDK next to the policy dependency it needs",
}


def test_cdk_nag_reports_no_unacknowledged_finding(assembly):
    assert assembly.synth_error is None, assembly.synth_error
    if assembly.validation_report is not None:
        violations = [
            (v["ruleName"], c["constructPath"])
            for report in assembly.validation_report["pluginReports"]
            for v in report.get("violations", [])
            for c in v["violatingConstructs"]
        ]
        assert violations == []


def _acknowledgments(assembly):
    for stack in (DEFAULT_STACK, DEV_STACK):
        for path, entries in assembly.metadata[stack].items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    for rule, reason in entry["data"].items():
                        yield stack, path, rule, reason


def test_every_acknowledgment_says_why(assembly):
    acks = list(_acknowledgments(assembly))
    assert acks, "expected the justified acknowledgments from cdk/ to be recorded"
    for stack, path, rule, reason in acks:
        assert rule.startswith("Annotation::AwsSolutions-"), rule
        assert len(reason) >= 60, (path, rule, reason)  # a sentence, not a shrug


def test_acknowledged_rules_are_the_reviewed_set(assembly):
    rules = {rule.split("::", 1)[1].split("[")[0] for _, _, rule, _ in _acknowledgments(assembly)}
    assert rules == {
        "AwsSolutions-COG2",  # MFA optional (headless CLI sign-in); BYO pool for enforced MFA
        "AwsSolutions-COG3",  # threat protection needs the Plus plan
        "AwsSolutions-COG8",  # Plus plan
        "AwsSolutions-ASC3",  # verbose AppSync logs would contain prompts, tokens and JWTs
        "AwsSolutions-L1",  # python3.12 pinned to the bundled cp312 wheels
        "AwsSolutions-IAM5",  # per-finding: log streams, data-source versions, cross-region models
    }


def test_no_cdk_errors_or_warnings(assembly):
    for stack in (DEFAULT_STACK, DEV_STACK):
        for path, entries in assembly.metadata[stack].items():
            for entry in entries:
                assert entry["type"] not in {"aws:cdk:error", "aws:cdk:warning"}, (path, entry.get("data"))


def test_nag_suppressions_are_written_to_the_template(assembly):
    """The audit trail travels with the template (cdk_nag.rules_to_suppress metadata)."""
    t = assembly.template(DEFAULT_STACK)
    suppressed = [
        r
        for res in t["Resources"].values()
        for r in res.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert suppressed and all(s["reason"] for s in suppressed)


@pytest.fixture(scope="module")
def cfn_lint_findings(assembly):
    """cfn-lint (the venv's, as a subprocess) over both templates; conftest started it after synth."""
    stdout, stderr = assembly.cfn_lint.communicate(timeout=120)
    assert assembly.cfn_lint.returncode in (0, 2, 4, 6, 8, 10, 12, 14), stderr  # bit flags: error/warning/info
    return json.loads(stdout or "[]")


def test_cfn_lint_finds_nothing_beyond_the_justified_ignores(cfn_lint_findings):
    unexpected = [f for f in cfn_lint_findings if f["Rule"]["Id"] not in CFN_LINT_IGNORES]
    assert unexpected == [], json.dumps(unexpected, indent=1)[:4000]


def test_cfn_lint_ignores_are_still_needed(cfn_lint_findings):
    """An ignore that no longer matches anything should be deleted, not carried forever."""
    assert {f["Rule"]["Id"] for f in cfn_lint_findings} == set(CFN_LINT_IGNORES)
