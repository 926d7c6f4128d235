"""The three Python Lambdas (start, sessions, process), bundled locally without Docker.

Every function named in graphql/resolvers.json is built here from one code asset: the
``lambdas/`` and ``tokencast/`` packages plus the runtime wheels for Lambda's platform (arm64,
CPython 3.12), boto3 and botocore included, exactly as pinned (and hashed) in uv.lock. Each function gets its own role, holding nothing but permission to write
to its own log group; what else it may do is granted by the stack, action by action.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jsii
from aws_cdk import (
    Acknowledgment,
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.nag import acknowledge_iam5
from tokencast.metrics import service_name
from tokencast.resolvers import GRAPHQL_DIR, ResolverMap

#: The repository root, where the packages to bundle live.
ROOT = GRAPHQL_DIR.parent

#: uv.lock's "lambda" dependency group, exported with hashes by `make lock`. The SDK is bundled
#: too: ConverseStream needs a recent botocore, and the runtime's copy changes underneath us.
REQUIREMENTS = Path(__file__).resolve().parent / "lambda-requirements.txt"
#: The packages copied into the bundle, and what inside them is not.
PACKAGES = ("lambdas", "tokencast")
#: the laptop stack (emulator, moto, local model) and the TypeScript generator (a build step)
EXCLUDED_TREES = ("tokencast/local", "tokencast/codegen")
EXCLUDED_DIR_NAMES = frozenset({"__pycache__", "tests"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
PIP_PLATFORM = ("--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.12")
#: Bump when the bundling recipe changes, so cached cdk.out assets are rebuilt.
BUNDLER_VERSION = "2"


def _source_files(root: Path = ROOT) -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or path.suffix in EXCLUDED_SUFFIXES:
                continue
            if any(part in EXCLUDED_DIR_NAMES for part in rel.parts[:-1]):
                continue
            if any(rel.as_posix().startswith(tree + "/") for tree in EXCLUDED_TREES):
                continue
            yield path


def bundle_hash(*, with_dependencies: bool) -> str:
    """Content hash of what goes into the asset: code, pinned requirements, recipe, platform.

    A custom hash (instead of fingerprinting the repository root, .venv and all) keeps synth
    fast, and because CDK skips bundling when ``cdk.out/asset.<hash>`` already exists, an
    unchanged tree is never pip-installed twice.
    """
    digest = hashlib.sha256()
    digest.update(f"{BUNDLER_VERSION}|{RUNTIME.name}|{' '.join(PIP_PLATFORM)}|deps={with_dependencies}".encode())
    if with_dependencies:
        digest.update(REQUIREMENTS.read_bytes())
    for path in _source_files():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Builds the asset on this machine: pip for Lambda's platform, then copy the packages.

    ``--only-binary=:all:`` with an explicit platform makes pip fetch manylinux aarch64 cp312
    wheels (pydantic-core's compiled extension included) regardless of the build machine; the
    hashes in the requirements put pip in hash-checking mode, so only the locked files install;
    ``--no-compile`` avoids shipping .pyc files compiled for the build interpreter.
    """

    def __init__(self, *, with_dependencies: bool = True) -> None:
        self.with_dependencies = with_dependencies

    def try_bundle(self, output_dir: str, *args: object, **kwargs: object) -> bool:
        out = Path(output_dir)
        if self.with_dependencies:
            subprocess.run(
                [
                    sys.executable, "-m", "pip", "install",
                    "--quiet", "--disable-pip-version-check", "--no-compile",
                    *PIP_PLATFORM, "--only-binary=:all:",
                    "--target", str(out), "--requirement", str(REQUIREMENTS),
                ],
                check=True,
            )  # fmt: skip
            shutil.rmtree(out / "bin", ignore_errors=True)  # console scripts: useless in Lambda
        for path in _source_files():
            target = out / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        return True


def code_asset(*, with_dependencies: bool = True) -> lambda_.Code:
    """One asset for every function (handlers differ, code does not)."""
    return lambda_.Code.from_asset(
        str(ROOT),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundle_hash(with_dependencies=with_dependencies),
        bundling=BundlingOptions(
            # Never used: local bundling always succeeds or raises. CDK requires an image anyway.
            image=DockerImage.from_registry("tokencast/no-docker-needed"),
            local=PipLocalBundling(with_dependencies=with_dependencies),
        ),
    )


@dataclass(frozen=True)
class FunctionSizing:
    memory_mb: int
    timeout: Duration


#: Resolver handlers answer inside AppSync's 30 s limit; the worker streams a whole answer.
DEFAULT_SIZING = FunctionSizing(memory_mb=256, timeout=Duration.seconds(10))


@dataclass(frozen=True)
class TokencastFunctionsProps:
    declaration: ResolverMap
    #: TOKENCAST_* (Settings/Limits) and POWERTOOLS_* variables shared by every function.
    environment: Mapping[str, str]
    #: Per-function overrides of :data:`DEFAULT_SIZING`, keyed by the declared function name.
    sizing: Mapping[str, FunctionSizing] = field(default_factory=dict)
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_WEEK
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    bundle_dependencies: bool = True


class TokencastFunctions(Construct):
    """One arm64 Python 3.12 function per entry in ``resolvers.json``'s ``functions``."""

    def __init__(self, scope: Construct, id: str, props: TokencastFunctionsProps) -> None:
        super().__init__(scope, id)
        code = code_asset(with_dependencies=props.bundle_dependencies)
        self.functions: dict[str, lambda_.Function] = {}
        for name, decl in props.declaration.functions.items():
            construct_id = name.capitalize()
            log_group = logs.LogGroup(
                self,
                f"{construct_id}Logs",
                retention=props.log_retention,
                removal_policy=props.removal_policy,
            )
            role = iam.Role(
                self,
                f"{construct_id}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"tokencast {name}: {decl.purpose}",
            )
            # Instead of AWSLambdaBasicExecutionRole (logs:* on every log group in the account):
            # write to this function's own group only (its ARN ends in ":*", covering its streams).
            log_group.grant(role, "logs:CreateLogStream", "logs:PutLogEvents")
            sizing = props.sizing.get(name, DEFAULT_SIZING)
            fn = lambda_.Function(
                self,
                construct_id,
                description=f"tokencast {name}: {decl.purpose}",
                runtime=RUNTIME,
                architecture=ARCHITECTURE,
                handler=decl.handler,
                code=code,
                role=role,
                memory_size=sizing.memory_mb,
                timeout=sizing.timeout,
                log_group=log_group,
                # X-Ray: Lambda's own segment plus Powertools Tracer's subsegments (boto3 calls
                # to DynamoDB, SQS, Bedrock and the publish to AppSync) under the same trace.
                tracing=lambda_.Tracing.ACTIVE,
                environment={**props.environment, "POWERTOOLS_SERVICE_NAME": service_name(name)},
            )
            acknowledge_iam5(
                role,
                resources=["*"],
                reason=(
                    "Active tracing: xray:PutTraceSegments/PutTelemetryRecords have no resource-level "
                    "permissions, so X-Ray requires Resource '*' (CDK's tracing grant)."
                ),
            )
            Validations.of(fn).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-L1",
                    reason=(
                        "Pinned to python3.12 on purpose: the bundled wheels (pydantic-core is compiled) "
                        "are fetched for cp312/aarch64 in cdk/functions.py; bump runtime and PIP_PLATFORM together."
                    ),
                )
            )
            self.functions[name] = fn

    def __getitem__(self, name: str) -> lambda_.Function:
        return self.functions[name]
