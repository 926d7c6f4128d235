"""Synthesize the CDK app once per session; every infra test reads that one cloud assembly.

One App, two stacks, one ``synth`` (≈5 s):

- ``Tokencast``: every context default (what ``cdk deploy`` gives with an empty context);
- ``TokencastDev``: the opt-ins a dev or BYO-pool deployment uses (API key, existing user pool,
  alarm e-mail, two models, other concurrency/attempts/retention).

Both are built from ``TokencastConfig.from_context`` exactly as app.py does, with cdk.json's
context, and cdk-nag (AwsSolutions) runs on both through the same ``add_checks`` as app.py.

Bundling: the tests synthesize with ``bundleDependencies=false``, so the asset is the real
``lambdas/`` + ``tokencast/`` code without pip-installed wheels (no network, no 15 MB copy).
The pip path is the same class with one flag flipped; ``test_bundling.py`` runs it for real
when ``TOKENCAST_TEST_FULL_BUNDLING=1`` (``cdk synth`` always bundles fully).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO = Path(__file__).resolve().parents[2]

from infra_helpers import DEFAULT_STACK, DEV_CONTEXT, DEV_STACK


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.infra)


@dataclass
class Assembly:
    outdir: Path
    templates: dict[str, dict[str, Any]]
    metadata: dict[str, dict[str, Any]]
    configs: dict[str, Any]
    #: cdk-nag's policy-validation report, or None when synth passed validation.
    validation_report: dict[str, Any] | None
    synth_error: str | None
    stacks: dict[str, Any] = field(default_factory=dict)
    #: cfn-lint over both templates, started right after synth so it overlaps the other tests.
    cfn_lint: subprocess.Popen | None = None

    def template(self, stack: str) -> dict[str, Any]:
        return self.templates[stack]


@pytest.fixture(scope="session")
def assembly(tmp_path_factory) -> Iterator[Assembly]:
    import aws_cdk as cdk

    from cdk.config import TokencastConfig
    from cdk.nag import add_checks
    from cdk.stack import TokencastStack

    outdir = tmp_path_factory.mktemp("cdk.out")
    cdk_json_context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(outdir), context={**cdk_json_context, "bundleDependencies": "false"})

    configs = {
        DEFAULT_STACK: TokencastConfig.from_context(app.node.try_get_context),
        DEV_STACK: TokencastConfig.from_context(
            lambda key: DEV_CONTEXT[key] if key in DEV_CONTEXT else app.node.try_get_context(key)
        ),
    }
    stacks = {name: TokencastStack(app, name, config=cfg) for name, cfg in configs.items()}
    add_checks(app)

    synth_error = None
    try:
        app.synth()
    except Exception as exc:  # cdk-nag findings fail synth; templates are written before that
        synth_error = str(exc)
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    templates = {name: json.loads((outdir / f"{name}.template.json").read_text()) for name in stacks}
    metadata = {
        name: json.loads((outdir / f"{name}.metadata.json").read_text())
        if (outdir / f"{name}.metadata.json").exists()
        else {}
        for name in stacks
    }
    cfn_lint = subprocess.Popen(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", "--"]
        + [str(outdir / f"{name}.template.json") for name in stacks],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield Assembly(outdir, templates, metadata, configs, report, synth_error, stacks, cfn_lint)
    if cfn_lint.poll() is None:
        cfn_lint.kill()
        cfn_lint.wait()


@pytest.fixture(scope="session")
def default_template(assembly):
    from aws_cdk.assertions import Template

    return Template.from_json(assembly.template(DEFAULT_STACK))


@pytest.fixture(scope="session")
def dev_template(assembly):
    from aws_cdk.assertions import Template

    return Template.from_json(assembly.template(DEV_STACK))
