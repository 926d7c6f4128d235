"""The pipeline core: everything the three Lambda handlers do, with no handler in it.

One job per module:

- :mod:`~tokencast.core.start_request` validates ``startStream`` arguments against the Limits;
- :mod:`~tokencast.core.jobs` is the versioned job message on the SQS queue;
- :mod:`~tokencast.core.models` is the GraphQL wire types (pydantic), whence every field list;
- :mod:`~tokencast.core.store` writes the DynamoDB table (sessions + event log, with fencing) on
  top of :mod:`~tokencast.core.reader`, which reads it (a session, event and session pages);
  :mod:`~tokencast.core.table` is its layout, :mod:`~tokencast.core.records` its items both ways;
- :mod:`~tokencast.core.attempt` turns one processing attempt into ordered, stored events;
- :mod:`~tokencast.core.model` adapts Bedrock ConverseStream to "an iterator of text deltas";
- :mod:`~tokencast.core.publisher` signs ``publishToken`` calls and coalesces token deltas;
- :mod:`~tokencast.core.heartbeat` keeps a streaming job's SQS message invisible;
- :mod:`~tokencast.core.worker` runs one job: attempts, retries, cancel, fencing, DLQ;
- :mod:`~tokencast.core.errors` names the failures and classifies them transient/permanent;
- :mod:`~tokencast.core.dlq` writes dead letters and lists/shows/replays/purges them;
- :mod:`~tokencast.core.quotas` takes and frees per-owner quota slots (atomic at start);
- :mod:`~tokencast.core.appsync_routes` runs a handler's routes and answers in the typed-error envelope;
- :mod:`~tokencast.core.start` and :mod:`~tokencast.core.sessions` are the resolver services.

Handlers in ``lambdas/`` only parse the event, call one of these, and shape the answer.
"""
