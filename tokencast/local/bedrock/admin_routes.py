"""The ``/_local/model/...`` admin routes: read and arm fault rules, read and reset stats.

Mounted behind :func:`tokencast.local.admin.guard_admin_routes` (API key, local origins).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from tokencast.local import bounded_json
from tokencast.local.admin import refuse
from tokencast.local.bedrock.faults import FaultRule

if TYPE_CHECKING:
    from tokencast.local.bedrock.server import LocalBedrock


def admin_routes(model: LocalBedrock) -> list[web.RouteDef]:
    return [
        web.get("/_local/model/faults", partial(handle_get_faults, model)),
        web.post("/_local/model/faults", partial(handle_post_faults, model)),
        web.delete("/_local/model/faults", partial(handle_delete_faults, model)),
        web.get("/_local/model/stats", partial(handle_get_stats, model)),
        web.delete("/_local/model/stats", partial(handle_delete_stats, model)),
    ]


async def handle_get_faults(model: LocalBedrock, request: web.Request) -> web.Response:
    return web.json_response({"rules": model.faults()})


async def handle_post_faults(model: LocalBedrock, request: web.Request) -> web.Response:
    """Body: ``{"rules": [rule, ...], "replace": false}`` or a single rule object."""
    try:
        body = bounded_json.loads(await request.read())
        if isinstance(body, dict) and "kind" in body:
            body = {"rules": [body]}
        if not isinstance(body, dict) or not isinstance(body.get("rules"), list) or set(body) - {"rules", "replace"}:
            raise ValueError('expected {"rules": [...], "replace": bool} or one rule')
        rules = [FaultRule.model_validate(r) for r in body["rules"]]
    except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
        return refuse(400, "BadRequestException", str(exc))
    ids = model.set_faults(rules) if body.get("replace") else [model.add_fault(r) for r in rules]
    return web.json_response({"ids": ids, "rules": model.faults()})


async def handle_delete_faults(model: LocalBedrock, request: web.Request) -> web.Response:
    model.clear_faults()
    return web.json_response({"rules": []})


async def handle_get_stats(model: LocalBedrock, request: web.Request) -> web.Response:
    return web.json_response(model.stats())


async def handle_delete_stats(model: LocalBedrock, request: web.Request) -> web.Response:
    model.reset_stats()
    return web.json_response(model.stats())
