"""The CloudFormation output keys of a tokencast stack: the one list both sides read.

``cdk/`` declares each output under these keys; ``tokencast ... --stack NAME`` reads them back
with ``DescribeStacks``; frontends and docs name them. A renamed key would silently break
deployed stacks' CLI use, so it is written once, here, and everything else imports it.
"""

from __future__ import annotations

from enum import StrEnum


class StackOutput(StrEnum):
    """One ``Outputs`` key of the stack template (the value is the key as CloudFormation sees it)."""

    GRAPHQL_URL = "GraphQLUrl"
    REALTIME_URL = "RealtimeUrl"
    API_ID = "ApiId"
    #: only with ``enableApiKey=true``: for AppSync the key id is the key (``da2-...``)
    API_KEY_ID = "ApiKeyId"
    REGION = "Region"
    USER_POOL_ID = "UserPoolId"
    USER_POOL_CLIENT_ID = "UserPoolClientId"
    JOBS_QUEUE_URL = "JobsQueueUrl"
    DEAD_LETTER_QUEUE_URL = "DeadLetterQueueUrl"
    TABLE_NAME = "TableName"
    ALARM_TOPIC_ARN = "AlarmTopicArn"
