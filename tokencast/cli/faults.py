"""``tokencast faults add | list | clear``: the local model's fault rules, from a terminal.

Rules make the built-in model throttle, fail, slow down or stall for the next matching
requests, so retries, the dead-letter queue and replay can be practised without reading
the source (README "Practising failure"). They talk to ``/_local/model/faults`` through
:func:`tokencast.cli.admin.local_admin` (the stack's typed admin client).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from tokencast.cli.admin import local_admin
from tokencast.cli.errors import EXIT_USAGE, CliError
from tokencast.cli.target import resolve

#: ``faults add`` options → FaultRule fields (only those given are sent)
_RULE_OPTIONS = ("match", "status", "error", "after", "exception", "delay_s", "message")


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    target = resolve(url=None, stack=None, region=None)
    command = args.faults_command
    if command == "add":
        rule = rule_from(args)
        with local_admin(target) as admin:
            [rule_id] = admin.add_model_faults(rule)
        if args.json:
            out.write(json.dumps({"id": rule_id, "rule": rule}) + "\n")
        else:
            out.write(f"armed fault rule {rule_id}: {describe({**rule, 'remaining': rule['times']})}\n")
        return 0
    if command == "list":
        with local_admin(target) as admin:
            rules = admin.model_faults()
        if args.json:
            out.write(json.dumps(rules, indent=2) + "\n")
        elif not rules:
            out.write("no fault rules armed: the local model answers normally\n")
        else:
            for rule in rules:
                out.write(f"{rule['id']:>3}  {describe(rule)}\n")
        return 0
    if command == "clear":
        with local_admin(target) as admin:
            before = len(admin.model_faults())
            admin.clear_model_faults()
        if args.json:
            out.write(json.dumps({"removed": before}) + "\n")
        else:
            out.write(f"removed {before} fault rule{'s' if before != 1 else ''}\n")
        return 0
    return EXIT_USAGE


def rule_from(args: argparse.Namespace) -> dict[str, Any]:
    """The FaultRule JSON for ``faults add`` (the stack validates it and names what is wrong)."""
    if not args.always and args.times < 1:
        raise CliError("--times must be 1 or more", "or use --always until `tokencast faults clear`", EXIT_USAGE)
    if args.kind == "http_error" and not args.error:
        raise CliError(
            "http_error needs --error", "e.g. --error AccessDeniedException (a permanent failure)", EXIT_USAGE
        )
    rule: dict[str, Any] = {"kind": args.kind, "times": None if args.always else args.times}
    rule.update({name: getattr(args, name) for name in _RULE_OPTIONS if getattr(args, name) is not None})
    return rule


def describe(rule: dict[str, Any]) -> str:
    """``throttle, 2 more requests, prompts containing "[demo]"``."""
    kind = rule["kind"]
    detail = {
        "server_error": f" {rule.get('status', 500)}",
        "http_error": f" {rule.get('error', '')}",
        "fail_after": f" after {rule.get('after', 0)} tokens ({rule.get('exception') or 'modelStreamErrorException'})",
        "stall": f" after {rule.get('after', 0)} tokens",
        "slow": f" +{rule.get('delay_s', 0)}s per token",
    }.get(kind, "")
    remaining = rule.get("remaining")
    uses = "every request" if remaining is None else f"{remaining} more request{'s' if remaining != 1 else ''}"
    scope = f'prompts containing "{rule["match"]}"' if rule.get("match") else "every prompt"
    return f"{kind}{detail}, {uses}, {scope}"
