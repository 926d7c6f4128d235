"""The local stack: AppSync emulator, moto, SQS poller and local model on one machine."""

import os
from collections.abc import Mapping
from pathlib import Path

#: Where ``tokencast up`` listens and the API key it accepts, unless told otherwise. Kept here,
#: free of imports, so the CLI can show them without loading the stack.
DEFAULT_PORT = 4000
DEFAULT_API_KEY = "tokencast-local-key"


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``tokencast up`` keeps its state (endpoints, the local CA, the JWT signing key):
    ``.tokencast`` in the working directory, or ``TOKENCAST_STATE_DIR`` (of ``environ``, default
    ``os.environ``). Never committed (.gitignore)."""
    return Path((os.environ if environ is None else environ).get("TOKENCAST_STATE_DIR", ".tokencast"))
