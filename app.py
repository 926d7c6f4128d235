#!/usr/bin/env python3
"""The tokencast CDK app: `cdk synth` / `cdk deploy` (see docs/cloud.md).

Configuration comes from CDK context (cdk.json, -c key=value); cdk/config.py lists every key and
its default. cdk-nag's AwsSolutions pack runs on every synth and fails it on any unacknowledged
finding.
"""

import os

import aws_cdk as cdk

from cdk.config import TokencastConfig
from cdk.nag import add_checks
from cdk.stack import TokencastStack

app = cdk.App()
config = TokencastConfig.from_context(app.node.try_get_context)
TokencastStack(
    app,
    config.stack_name,
    config=config,
    # Environment-agnostic unless the CLI resolved an account/region (cdk deploy does).
    env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
)
add_checks(app)
app.synth()
