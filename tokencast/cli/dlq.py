"""``tokencast dlq list | show | replay | purge``: operate the dead-letter queue.

The same boto3 calls work against the local stack (moto, found through ``tokencast up``'s
state file) and a deployed stack (``--stack NAME``: queue URLs and table from its outputs),
through :class:`tokencast.core.dlq.DeadLetterQueue`.

Exit codes: 0 done; 1 something asked for was refused, not found, or failed; 2 nothing to
talk to, or a purge that was not confirmed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tokencast.cli.target import Target, resolve


def run(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None, stdin: TextIO | None = None
) -> int:
    out, err, stdin = out or sys.stdout, err or sys.stderr, stdin or sys.stdin
    target = resolve(url=args.url, stack=args.stack, region=args.region)
    missing = [
        name
        for name, value in (
            ("dead-letter queue", target.dlq_url),
            ("jobs queue", target.jobs_queue_url),
            ("sessions table", target.table_name),
        )
        if not value
    ]
    if missing:
        err.write(
            f"tokencast dlq: this target does not say where its {', '.join(missing)} is; "
            "use the running `tokencast up` or --stack NAME\n"
        )
        return 2
    queue = open_queue(target)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        command = args.dlq_command
        if command == "list":
            return _list(queue, as_json=args.json, out=out)
        if command == "show":
            return _show(queue, args.message_id, as_json=args.json, out=out, err=err)
        if command == "replay":
            return _replay(
                queue,
                sessions=None if args.all else args.sessions,
                dry_run=args.dry_run,
                rate=args.rate,
                force=args.force,
                as_json=args.json,
                out=out,
                err=err,
            )
        if command == "purge":
            return _purge(queue, yes=args.yes, as_json=args.json, out=out, err=err, stdin=stdin)
    except (BotoCoreError, ClientError) as error:
        err.write(f"tokencast dlq {args.dlq_command}: {error}\n")
        return 1
    err.write(f"tokencast dlq: unknown command {args.dlq_command!r}\n")
    return 2


def open_queue(target: Target) -> Any:
    import boto3

    from tokencast.core.dlq import DeadLetterQueue
    from tokencast.core.store import SessionStore

    if not (target.dlq_url and target.jobs_queue_url and target.table_name):
        raise ValueError("this target names no queues or table: use `tokencast up` or --stack NAME")
    kwargs = target.boto3_kwargs()
    sqs = boto3.client("sqs", **kwargs)
    store = SessionStore(boto3.client("dynamodb", **kwargs), target.table_name)
    return DeadLetterQueue(sqs, target.dlq_url, target.jobs_queue_url, store)


# --- commands -------------------------------------------------------------------------------


def _list(queue: Any, *, as_json: bool, out: TextIO) -> int:
    jobs = queue.list_jobs()
    if as_json:
        out.write(json.dumps([job.to_dict() for job in jobs], indent=2) + "\n")
        return 0
    if not jobs:
        out.write("the dead-letter queue is empty\n")
        return 0
    rows = [("MESSAGE ID", "SESSION", "OWNER", "MODEL", "ATTEMPTS", "AGE", "REASON")]
    rows += [
        (
            job.message_id,
            job.session_id or "-",
            job.owner or "-",
            job.model_id or "-",
            "-" if job.attempts is None else str(job.attempts),
            format_age(job.age_s),
            job.reason,
        )
        for job in jobs
    ]
    out.write(_table(rows))
    out.write(
        f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}; replay with `tokencast dlq replay --session ID` (or --all)\n"
    )
    return 0


def _show(queue: Any, message_id: str, *, as_json: bool, out: TextIO, err: TextIO) -> int:
    job = queue.show(message_id)
    if job is None:
        err.write(f"no job {message_id} in the dead-letter queue\n")
        return 1
    data = job.to_dict(with_body=True)
    # SQS cannot peek: looking receives the message, so the DLQ's own receive count counts
    # our looks, not the job's failures (that is "attempts"). Not shown, so it cannot mislead.
    data.pop("receive_count", None)
    if as_json:
        out.write(json.dumps(data, indent=2) + "\n")
        return 0
    body = data.pop("body")
    data["age"] = format_age(data.pop("age_s"))
    width = max(len(k) for k in data)
    for name, value in data.items():
        out.write(f"{name.ljust(width)}  {'-' if value is None else value}\n")
    try:
        pretty = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        pretty = body
    out.write(f"{'body'.ljust(width)}\n{pretty}\n")
    return 0


def _replay(
    queue: Any,
    *,
    sessions: list[str] | None,
    dry_run: bool,
    rate: float | None,
    force: bool,
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    if rate is not None and rate <= 0:
        err.write("--rate must be more than 0 jobs per second\n")
        return 2
    results = queue.replay(sessions, dry_run=dry_run, rate_per_s=rate, force=force)
    found = {r.session_id for r in results}
    absent = [s for s in dict.fromkeys(sessions or ()) if s not in found]
    refused = [r for r in results if r.action == "refused"]
    if as_json:
        out.write(
            json.dumps(
                {
                    "results": [
                        {
                            "messageId": r.message_id,
                            "sessionId": r.session_id,
                            "action": r.action,
                            "reason": r.reason or None,
                        }
                        for r in results
                    ],
                    "notInQueue": absent,
                    "dryRun": dry_run,
                },
                indent=2,
            )
            + "\n"
        )
    else:
        for r in results:
            line = f"{r.action:<13} session {r.session_id or '-'}  (message {r.message_id})"
            out.write(line + (f": {r.reason}" if r.reason else "") + "\n")
        for session_id in absent:
            out.write(f"{'not found':<13} session {session_id}: no job of it in the dead-letter queue\n")
        if not results and not absent:
            out.write("the dead-letter queue is empty\n")
        done = sum(r.action in ("replayed", "would-replay") for r in results)
        verb = "would replay" if dry_run else "replayed"
        out.write(f"{verb} {done}, refused {len(refused)}" + (f", not found {len(absent)}" if absent else "") + "\n")
        if any("force" in r.reason for r in refused) and not force:
            out.write("a COMPLETED session runs again only with --force\n")
    return 1 if refused or absent else 0


def _purge(queue: Any, *, yes: bool, as_json: bool, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    if not yes:
        if not stdin.isatty():
            err.write("tokencast dlq purge deletes every job in the dead-letter queue; pass --yes to confirm\n")
            return 2
        count = len(queue.list_jobs())
        if count == 0:
            out.write("the dead-letter queue is empty\n")
            return 0
        err.write(f"delete all {count} job{'s' if count != 1 else ''} in the dead-letter queue? [y/N] ")
        err.flush()
        if stdin.readline().strip().lower() not in ("y", "yes"):
            err.write("nothing deleted\n")
            return 2
    deleted = queue.purge()
    if as_json:
        out.write(json.dumps({"deleted": deleted}) + "\n")
    else:
        out.write(f"deleted {deleted} job{'s' if deleted != 1 else ''}\n")
    return 0


# --- formatting -----------------------------------------------------------------------------


def format_age(seconds: float) -> str:
    """``42s``, ``7m``, ``3h``, ``2d``: enough to tell fresh failures from old ones."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _table(rows: Iterable[tuple[str, ...]]) -> str:
    rows = list(rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
