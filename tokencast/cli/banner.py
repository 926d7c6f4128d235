"""What ``tokencast up`` prints once the stack is ready: endpoints, credentials, next steps.

One function builds the whole banner, so additions (another endpoint, a note) go in one place.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tokencast.local.stack import LocalEndpoints


def invocation(argv0: str | None = None) -> str:
    """How the user can run ``tokencast`` again: ``tokencast`` when that is on PATH and is
    this program, else the path they used (``.venv/bin/tokencast``), relative when shorter."""
    argv0 = argv0 if argv0 is not None else sys.argv[0]
    program = Path(argv0)
    if program.name in ("main.py", "__main__.py"):
        return "python -m tokencast.cli.main"
    on_path = shutil.which("tokencast")
    try:
        if on_path and Path(on_path).resolve() == program.resolve():
            return "tokencast"
    except OSError:
        pass
    try:
        relative = os.path.relpath(program.resolve(), Path.cwd())
    except ValueError:  # another drive (Windows)
        return str(program)
    return relative if not relative.startswith("..") else str(program.resolve())


def describe(endpoints: LocalEndpoints, *, command: str = "tokencast", state_file: str | None = None) -> str:
    lines = ["tokencast local stack is up", f"  web console        {endpoints.console_url}"]
    if endpoints.https_console_url:
        lines.append(f"                     {endpoints.https_console_url}  (once the local CA below is trusted)")
    if endpoints.https_graphql_url and endpoints.ca_cert:
        ca = endpoints.ca_cert.resolve()
        lines += [
            f"  GraphQL endpoint   {endpoints.https_graphql_url}   <- Amplify, Apollo, browsers",
            f"  real-time          {endpoints.wss_realtime_url}",
            f"  local CA           {ca}",
            f"                     Node: NODE_EXTRA_CA_CERTS={ca}",
            "                     browsers: import it as a trusted authority (docs/frontends.md)",
        ]
    lines += [
        f"  GraphQL (HTTP)     {endpoints.graphql_url}   <- {command} CLI and Python SDK",
        f"  real-time (HTTP)   {endpoints.realtime_url}  (also ws://…/graphql)",
        f"  API key            {endpoints.api_key}",
        "  IAM                access key test / secret test, region " + endpoints.region,
        f"  JWT                {command} token --user alice",
        f"  model              {endpoints.model_url}",
        f"  SQS + DynamoDB     {endpoints.moto_url} (moto)",
        f"  jobs queue         {endpoints.queues.jobs_url}",
        f"  dead-letter queue  {endpoints.queues.dlq_url}",
    ]
    lines += [
        "",
        f'try:  {command} stream "Tell me about streaming"',
        "Sessions, queues and fault rules live in memory: they vanish when this stops. Ctrl-C stops.",
    ]
    if state_file:  # last: scripts (and the tests) wait for this line
        lines.append(f"(endpoints saved to {state_file})")
    return "\n".join(lines)
