"""Existing JavaScript frontends against the real local stack, configured with nothing but
what `tokencast up` prints: Amplify JS v6 (generateClient) and Apollo Client 4 with the
aws-appsync links, with API key, a Cognito-style JWT and IAM, unmodified and through
@tokencast/client. The tests themselves are Node scripts (tests/js, `node --test`)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tokencast.cli.banner import describe
from tokencast.local.bedrock.text import expected_text
from tokencast.local.jwt_issuer import LocalJwtIssuer

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "How do existing frontends stream from tokencast?"


def printed(endpoints) -> dict[str, str]:
    """Read the endpoint, CA, API key and IAM credentials off the text `tokencast up` prints."""
    text = describe(endpoints)
    found = {
        "endpoint": re.search(r"GraphQL endpoint\s+(https://\S+)", text),
        "ca": re.search(r"NODE_EXTRA_CA_CERTS=(\S+)", text),
        "api_key": re.search(r"API key\s+(\S+)", text),
        "iam": re.search(r"access key (\S+) / secret (\S+), region (\S+)", text),
    }
    missing = [name for name, match in found.items() if match is None]
    assert not missing, f"`tokencast up` no longer prints {missing}:\n{text}"
    iam = found["iam"]
    return {
        "TOKENCAST_ENDPOINT": found["endpoint"].group(1),
        "NODE_EXTRA_CA_CERTS": found["ca"].group(1),
        "TOKENCAST_API_KEY": found["api_key"].group(1),
        "TOKENCAST_ACCESS_KEY_ID": iam.group(1),
        "TOKENCAST_SECRET_ACCESS_KEY": iam.group(2),
        "TOKENCAST_REGION": iam.group(3),
    }


@pytest.mark.parametrize("script", ["amplify.test.mjs", "apollo.test.mjs"])
def test_js_frontend_streams_the_exact_text(local_stack, js_client, script):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOKENCAST_"))}
    env.update(
        printed(local_stack.endpoints),
        TOKENCAST_JWT=LocalJwtIssuer.from_env().mint("alice"),  # what `tokencast token --user alice` prints
        TOKENCAST_PROMPT=PROMPT,
        TOKENCAST_EXPECTED=expected_text(PROMPT),
    )
    done = subprocess.run(
        ["node", "--test", "--test-force-exit", "--test-timeout=60000", str(ROOT / "tests" / "js" / script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "# fail 0" in done.stdout
