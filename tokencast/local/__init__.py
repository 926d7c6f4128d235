"""The local stack: AppSync emulator, moto, SQS poller and local model on one machine."""
