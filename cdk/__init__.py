"""The tokencast cloud deployment: one stack, one construct per concern.

Wiring comes from graphql/resolvers.json through :mod:`tokencast.resolvers`, the loader the
emulator uses too, so nothing here names a handler or a field on its own.

- :mod:`cdk.config`      typed props from CDK context, with the documented defaults
- :mod:`cdk.storage`     the sessions table
- :mod:`cdk.queues`      jobs queue + dead-letter queue
- :mod:`cdk.auth`        Cognito user pool (new or existing) and the public app client
- :mod:`cdk.api`         the AppSync API, its auth modes, logs and resolvers
- :mod:`cdk.functions`   the Lambda functions and their Docker-free bundling
- :mod:`cdk.worker`      the process function's event source and permissions
- :mod:`cdk.alarms`      DLQ depth, oldest-job age, every function's errors, AppSync 5XX, on an SNS topic
- :mod:`cdk.dashboard`   the CloudWatch dashboard of the pipeline's metrics
- :mod:`cdk.nag`         cdk-nag wiring and justified acknowledgments
- :mod:`cdk.stack`       all of the above, wired like the architecture diagram
"""
