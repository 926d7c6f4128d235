"""The local stack: AppSync emulator, moto, SQS poller and local model on one machine."""

import os
from pathlib import Path

#: Where ``tokencast up`` listens and the API key it accepts, unless told otherwise. Kept here,
#: free of imports, so the CLI can show them without loading the stack.
DEFAULT_PORT = 4000
DEFAULT_API_KEY = "tokencast-local-key"


def state_dir() -> Path:
    """Where ``tokencast up`` keeps its state (endpoints, the local CA): ``.tokencast`` in the
    working directory, or ``TOKENCAST_STATE_DIR``. Never committed (.gitignore)."""
    return Path(os.environ.get("TOKENCAST_STATE_DIR", ".tokencast"))
