"""The local stack: AppSync emulator, moto, SQS poller and local model on one machine."""

#: Where ``tokencast up`` listens and the API key it accepts, unless told otherwise. Kept here,
#: free of imports, so the CLI can show them without loading the stack.
DEFAULT_PORT = 4000
DEFAULT_API_KEY = "tokencast-local-key"
