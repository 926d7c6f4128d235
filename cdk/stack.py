"""The tokencast stack: a thin wrapper of the :class:`~cdk.construct.Tokencast` construct.

The construct's id is ``Default``, which CDK leaves out of logical ids: the stack's
resources keep the ids they had before the construct existed, so a deployed stack updates
in place.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from cdk.config import TokencastConfig
from cdk.construct import Tokencast, TokencastProps, log_retention

__all__ = ["TokencastStack", "log_retention"]


class TokencastStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: TokencastConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, description="tokencast: stream LLM output to AppSync subscribers", **kwargs)
        self.tokencast = Tokencast(self, "Default", TokencastProps(config=config))
        self.tokencast.add_outputs(self)
        t = self.tokencast
        self.store, self.queues, self.auth, self.api, self.functions = t.store, t.queues, t.auth, t.api, t.functions
