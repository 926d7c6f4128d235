"""The console's routes on their own: page for every app path, assets confined to dist/console, 503 unbuilt."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tokencast.local.console import Console, ConsoleConfig
from tokencast.local.jwt_issuer import LocalJwtIssuer

CONFIG = ConsoleConfig(region="r", api_key="k")


def no_dlq():
    raise AssertionError("not used here")


async def serve(dist) -> TestClient:
    app = web.Application()
    Console(CONFIG, issuer=LocalJwtIssuer.generate(), dead_letter_queue=no_dlq, dist=dist).add_routes(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_unbuilt_console_says_how_to_build_it(tmp_path):
    client = await serve(tmp_path / "dist")
    try:
        response = await client.get("/")
        assert response.status == 503 and "make setup" in await response.text()
    finally:
        await client.close()


async def test_app_paths_serve_index_and_assets_stay_inside_dist_console(tmp_path):
    dist = tmp_path / "dist"
    (dist / "console").mkdir(parents=True)
    (dist / "index.html").write_text("<div id=root></div>")
    (dist / "console" / "console.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("no")
    client = await serve(dist)
    try:
        for path in ("/", "/s/abc", "/dlq"):
            response = await client.get(path)
            assert (response.status, await response.text()) == (200, "<div id=root></div>")
        script = await client.get("/console/console.js")
        assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
        for escape in ("/console/../index.html", "/console/%2e%2e/%2e%2e/secret.txt", "/console/missing.js"):
            assert (await client.get(escape)).status == 404
        assert (await client.get("/s/abc/def")).status == 404
    finally:
        await client.close()
