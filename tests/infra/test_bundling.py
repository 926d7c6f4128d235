"""The Lambda asset: the right code, the pinned wheels, and no Docker.

The session synth packages the code without wheels (``bundleDependencies=false``); the full
pip path runs here only with ``TOKENCAST_TEST_FULL_BUNDLING=1`` because it needs the package
index (``cdk synth`` always bundles fully).
"""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

import pytest
from infra_helpers import DEFAULT_STACK

from cdk.functions import REQUIREMENTS, ROOT, PipLocalBundling, _source_files, bundle_hash


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            pins[name] = pinned
    return pins


def test_runtime_requirements_are_pinned_to_what_the_suite_runs():
    pins = _pins()
    assert set(pins) == {"aws-lambda-powertools", "pydantic", "requests", "requests-aws4auth"}
    for name, pinned in pins.items():
        assert pinned == version(name), f"{name}: bundled {pinned}, tested with {version(name)}"


def test_bundle_never_ships_test_tooling_or_the_cdk():
    text = REQUIREMENTS.read_text().lower()
    for forbidden in ("moto", "aiohttp", "gql", "aws-cdk", "cdk-nag", "boto3", "botocore", "pytest"):
        assert f"\n{forbidden}" not in text


def test_source_files_are_the_packages_without_the_local_stack():
    rel = [p.relative_to(ROOT).as_posix() for p in _source_files()]
    assert "lambdas/start.py" in rel and "lambdas/process.py" in rel and "lambdas/sessions.py" in rel
    assert "tokencast/config.py" in rel and "tokencast/access.py" in rel
    assert not [r for r in rel if r.startswith("tokencast/local/")]
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
    os.environ.get("TOKENCAST_TEST_FULL_BUNDLING") != "1", reason="needs the package index; set TOKENCAST_TEST_FULL_BUNDLING=1"
)
def test_full_bundle_has_aarch64_cp312_wheels(tmp_path: Path):
    assert PipLocalBundling(with_dependencies=True).try_bundle(str(tmp_path)) is True
    so = list((tmp_path / "pydantic_core").glob("_pydantic_core.*.so"))
    assert [p.name for p in so] == ["_pydantic_core.cpython-312-aarch64-linux-gnu.so"]
    for package in ("aws_lambda_powertools", "pydantic", "requests", "requests_aws4auth", "lambdas", "tokencast"):
        assert (tmp_path / package).is_dir(), package
    assert not (tmp_path / "tokencast" / "local").exists()
    assert not (tmp_path / "bin").exists()
    assert not (tmp_path / "boto3").exists() and not (tmp_path / "botocore").exists()  # the runtime's
    assert not list(tmp_path.rglob("*.pyc"))


@pytest.mark.skipif(
    os.environ.get("TOKENCAST_TEST_FULL_BUNDLING") != "1", reason="needs the package index; set TOKENCAST_TEST_FULL_BUNDLING=1"
)
def test_handlers_import_with_only_the_bundled_dependencies(assembly, tmp_path: Path):
    """The handlers need nothing beyond the pinned requirements and the runtime's boto3.

    Same wheels for this machine's platform, an isolated interpreter (-I -S: no venv, no site
    packages), and the synthesized asset's code: importing the three handlers must work.
    """
    import subprocess
    import sys

    deps = tmp_path / "deps"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(deps), "--requirement", str(REQUIREMENTS), "boto3"],
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
