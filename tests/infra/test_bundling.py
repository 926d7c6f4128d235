"""The Lambda asset: the right code, the pinned wheels, and no Docker.

The session synth packages the code without wheels (``bundleDependencies=false``); the full
pip path runs here only with ``TOKENCAST_TEST_FULL_BUNDLING=1`` because it needs the package
index (``cdk synth`` always bundles fully).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from infra_helpers import DEFAULT_STACK

from cdk.functions import REQUIREMENTS, ROOT, PipLocalBundling, _source_files, bundle_hash

LOCK = ROOT / "uv.lock"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def bundled_pins(text: str) -> dict[str, str]:
    """name -> version from a pip requirements file (hash and comment lines skipped)."""
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if match:
            pins[_canonical(match[1])] = match[2]
    return pins


def locked_group_closure(lock: dict, group: str) -> dict[str, str]:
    """name -> locked version of a dependency group of the project and everything it pulls in."""
    packages = {_canonical(p["name"]): p for p in lock["package"]}
    [project] = [p for p in lock["package"] if p.get("source", {}).get("editable") == "."]
    todo = [_canonical(d["name"]) for d in project["dev-dependencies"][group]]
    extras = {_canonical(d["name"]): list(d.get("extra", [])) for d in project["dev-dependencies"][group]}
    closure: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure[name] = packages[name]["version"]
        todo.extend(_canonical(d["name"]) for d in packages[name].get("dependencies", []))
        for extra in extras.pop(name, ()):  # e.g. aws-lambda-powertools[tracer] pulls aws-xray-sdk
            for dep in packages[name].get("optional-dependencies", {}).get(extra, []):
                todo.append(_canonical(dep["name"]))
    return closure


def test_bundle_requirements_are_exactly_the_locked_lambda_group():
    """Every wheel bundled into the Lambda is the one uv.lock pins, and nothing else is."""
    bundled = bundled_pins(REQUIREMENTS.read_text())
    locked = locked_group_closure(tomllib.loads(LOCK.read_text()), "lambda")
    assert bundled == locked, "cdk/lambda-requirements.txt differs from uv.lock: run `make lock`"
    assert {"boto3", "botocore", "pydantic", "pydantic-core", "aws-lambda-powertools"} <= set(bundled)


def test_bundle_requirements_are_hash_checked():
    """pip installs in hash-checking mode: a file that is not the locked one fails the build."""
    text = REQUIREMENTS.read_text()
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", text)) >= len(bundled_pins(text))


def test_lock_parity_check_fails_on_drift():
    """The parity test is not vacuous: one moved pin is caught."""
    text = REQUIREMENTS.read_text()
    version = bundled_pins(text)["pydantic"]
    drifted = bundled_pins(text.replace(f"pydantic=={version}", "pydantic==0.0.1"))
    assert drifted != locked_group_closure(tomllib.loads(LOCK.read_text()), "lambda")


def test_the_suite_runs_the_locked_versions():
    """The venv the suite runs in was installed from uv.lock (make never resolves afresh)."""
    locked = locked_group_closure(tomllib.loads(LOCK.read_text()), "lambda")
    for name in ("pydantic", "boto3", "aws-lambda-powertools", "requests"):
        assert version(name) == locked[name], f"{name}: venv {version(name)}, uv.lock {locked[name]}"


def test_bundle_never_ships_test_tooling_or_the_cdk():
    bundled = set(bundled_pins(REQUIREMENTS.read_text()))
    assert not bundled & {"moto", "aiohttp", "gql", "aws-cdk-lib", "cdk-nag", "pytest", "graphql-core", "pip"}


def test_source_files_are_the_packages_without_the_local_stack_or_the_generator():
    rel = [p.relative_to(ROOT).as_posix() for p in _source_files()]
    assert "lambdas/start.py" in rel and "lambdas/process.py" in rel and "lambdas/sessions.py" in rel
    assert "tokencast/config.py" in rel and "tokencast/access.py" in rel
    assert not [r for r in rel if r.startswith(("tokencast/local/", "tokencast/codegen/"))]
    assert not [r for r in rel if "__pycache__" in r or r.endswith(".pyc")]


def test_asset_hash_tracks_the_dependency_flag():
    assert bundle_hash(with_dependencies=True) != bundle_hash(with_dependencies=False)
    assert bundle_hash(with_dependencies=False) == bundle_hash(with_dependencies=False)


def test_synthesized_asset_holds_the_code(assembly):
    assets = json.loads((assembly.outdir / f"{DEFAULT_STACK}.assets.json").read_text())["files"]
    [asset] = [a for a in assets.values() if a["source"]["packaging"] == "zip"]
    folder = assembly.outdir / asset["source"]["path"]
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {p.relative_to(ROOT).as_posix() for p in _source_files()} == files


@pytest.mark.skipif(
    os.environ.get("TOKENCAST_TEST_FULL_BUNDLING") != "1",
    reason="needs the package index; set TOKENCAST_TEST_FULL_BUNDLING=1",
)
def test_full_bundle_has_aarch64_cp312_wheels(tmp_path: Path):
    assert PipLocalBundling(with_dependencies=True).try_bundle(str(tmp_path)) is True
    so = list((tmp_path / "pydantic_core").glob("_pydantic_core.*.so"))
    assert [p.name for p in so] == ["_pydantic_core.cpython-312-aarch64-linux-gnu.so"]
    for package in ("aws_lambda_powertools", "pydantic", "requests", "requests_aws4auth", "lambdas", "tokencast"):
        assert (tmp_path / package).is_dir(), package
    assert not (tmp_path / "tokencast" / "local").exists()
    assert not (tmp_path / "bin").exists()
    assert (tmp_path / "boto3").is_dir() and (tmp_path / "botocore").is_dir()  # bundled, not the runtime's
    assert not list(tmp_path.rglob("*.pyc"))


@pytest.mark.skipif(
    os.environ.get("TOKENCAST_TEST_FULL_BUNDLING") != "1",
    reason="needs the package index; set TOKENCAST_TEST_FULL_BUNDLING=1",
)
def test_handlers_import_with_only_the_bundled_dependencies(assembly, tmp_path: Path):
    """The handlers need nothing beyond the bundled requirements (boto3 included).

    Same wheels for this machine's platform, an isolated interpreter (-I -S: no venv, no site
    packages), and the synthesized asset's code: importing the three handlers must work.
    """
    import subprocess
    import sys

    deps = tmp_path / "deps"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(deps), "--requirement", str(REQUIREMENTS)],
        check=True,
    )  # fmt: skip
    assets = json.loads((assembly.outdir / f"{DEFAULT_STACK}.assets.json").read_text())["files"]
    [asset] = [a for a in assets.values() if a["source"]["packaging"] == "zip"]
    code = assembly.outdir / asset["source"]["path"]
    probe = (
        f"import sys; sys.path[:0] = [{str(code)!r}, {str(deps)!r}]\n"
        "import lambdas.start, lambdas.sessions, lambdas.process\n"
        "leaked = sorted({m.split('.')[0] for m in sys.modules} & {'gql', 'moto', 'aiohttp', 'aws_cdk', 'graphql'})\n"
        "assert not leaked, leaked\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
