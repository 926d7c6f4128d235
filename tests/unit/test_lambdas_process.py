"""lambdas.process.handler as the SQS event source invokes it: partial batch responses."""

from __future__ import annotations

import pytest
from test_lambdas_start import Context

import lambdas.process as process
from tokencast.core.store import SessionStore
from tokencast.core.worker import Worker


def sqs_event(*records):
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": receipt,
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:jobs",
                "awsRegion": "us-east-1",
            }
            for message_id, body, receipt in records
        ]
    }


def run(event):
    return process.handler(event, Context(function_name="tokencast-process"))


def test_settled_records_are_acknowledged_even_when_dead_lettered(core_aws, start_job, make_worker, fakes, monkeypatch):
    job = start_job()
    worker, _, transport, _ = make_worker(fakes.Script(["ok"]))
    monkeypatch.setattr(process, "worker", lambda: worker)
    response = run(sqs_event(("m1", job.body, job.receipt_handle), ("m2", "{broken", "r2")))
    assert response == {"batchItemFailures": []}
    assert transport.events[-1]["type"] == "COMPLETED"
    [dead] = core_aws.receive_jobs(core_aws.settings.dead_letter_queue_url)
    assert dead["Body"] == "{broken"


def test_infrastructure_failures_become_batch_item_failures(core_aws, start_job, make_worker, fakes, monkeypatch):
    job = start_job()
    worker, *_ = make_worker(fakes.Script(["never"]))
    worker._store = SessionStore(core_aws.ddb, "no-such-table")  # DynamoDB "down"
    monkeypatch.setattr(process, "worker", lambda: worker)
    response = run(sqs_event(("m1", job.body, "r1")))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_the_worker_is_built_from_the_environment_alone(core_aws, monkeypatch):
    process.worker.cache_clear()
    try:
        built = process.worker()
        assert isinstance(built, Worker) and built._settings.jobs_queue_url == core_aws.settings.jobs_queue_url
        wrapped = process.build_worker(wrap_transport=lambda real: ("wrapped", real))
        assert wrapped._transport[0] == "wrapped"
        process.worker.cache_clear()
        monkeypatch.delenv("TOKENCAST_GRAPHQL_URL")
        with pytest.raises(RuntimeError, match="TOKENCAST_GRAPHQL_URL"):
            process.worker()
    finally:
        process.worker.cache_clear()
