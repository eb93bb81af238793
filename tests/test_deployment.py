"""The compose stack and the Dockerfile, checked without Docker.

No Docker engine runs here, so the deployment files are validated as data:
the compose file is parsed, its ``${...}`` values are interpolated the way
``docker compose`` does, and the result is checked against the project
itself (the worker's configuration, envconfig, the search attributes). The
set-up step's script runs for real against the dev server, with the same
``temporal`` CLI that Temporal's admin-tools image ships.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from opentelemetry import environment_variables as otel_api_environment
from opentelemetry.sdk import environment_variables as otel_sdk_environment
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.envconfig import ClientConfig
from temporalio.testing import WorkflowEnvironment

from activities.config import ConfigError, Settings
from orderclient import tracing
from starter.cli import build_parser
from workflows import search

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"

OFFICIAL_IMAGES = {"postgres", "temporalio/server", "temporalio/admin-tools", "temporalio/ui"}
# Jaeger's official image, for the optional tracing profile.
TRACING_IMAGES = {"jaegertracing/jaeger"}
# MinIO's own registry: Docker Hub's minio/minio and minio/mc are gone. Tagged by release.
MINIO_IMAGES = {"quay.io/minio/minio", "quay.io/minio/mc"}
MINIO_TAG = re.compile(r"RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ")
SECRET_NAME = re.compile(r"(KEYS?|SECRET|PASSWORD|PWD|TOKEN)$")
CONFIG_PREFIXES = ("ORDERS_", "SENDGRID_", "STRIPE_")
DEPENDS_ON_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Shell environments the stack is interpolated in: nothing set but the required
# values, and a fully customised one.
MINIMAL_SHELL = {
    "POSTGRES_PASSWORD": "not-a-real-password",
    "MINIO_ROOT_PASSWORD": "not-a-real-minio-password",
    "AWS_SECRET_ACCESS_KEY": "not-a-real-secret-key",
}
CUSTOM_SHELL = {**MINIMAL_SHELL, "TEMPORAL_NAMESPACE": "orders-prod", "POSTGRES_USER": "orders"}


# --- reading the files ----------------------------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


class InterpolationError(ValueError):
    pass


_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*)|(?P<invalid>))"
)
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?)(?P<arg>.*))?", re.DOTALL)


def interpolate(text: str, shell: Mapping[str, str]) -> str:
    """``docker compose`` interpolation: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``, ``${VAR:?e}``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("invalid") is not None:
            raise InterpolationError(f"invalid interpolation at {text[match.start() : match.start() + 20]!r}: use $$")
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return shell.get(match.group("named"), "")
        braced = _BRACED.fullmatch(match.group("braced"))
        if braced is None:
            raise InterpolationError(f"invalid interpolation ${{{match.group('braced')}}}")
        name, op, arg = braced.group("name", "op", "arg")
        value = shell.get(name)
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise InterpolationError(f"{name}: {arg}")
        return value or ""

    return _INTERPOLATION.sub(substitute, text)


def referenced_variables(value: Any) -> set[str]:
    """Every shell variable that a compose value reads (``$$`` escapes are the container's own)."""
    if isinstance(value, dict):
        return set().union(*(referenced_variables(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(referenced_variables(v) for v in value)) if value else set()
    if not isinstance(value, str):
        return set()
    names = set()
    for match in _INTERPOLATION.finditer(value):
        if match.group("named"):
            names.add(match.group("named"))
        elif match.group("braced"):
            braced = _BRACED.fullmatch(match.group("braced"))
            assert braced is not None, value
            names.add(braced.group("name"))
    return names


def raw_environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):  # the "NAME=value" form
        env = dict(item.split("=", 1) for item in env)
    return {name: str(value) for name, value in env.items()}


def environment(service: str, shell: Mapping[str, str]) -> dict[str, str]:
    return {name: interpolate(value, shell) for name, value in raw_environment(service).items()}


def script(service: str, shell: Mapping[str, str]) -> str:
    """The shell script of a one-shot service run as ``/bin/sh -c SCRIPT``."""
    spec = SERVICES[service]
    assert spec["entrypoint"] == ["/bin/sh", "-c"], f"{service} should run its command with /bin/sh -c"
    command = spec["command"]
    assert isinstance(command, list) and len(command) == 1, f"{service}: the script must be one list item"
    return interpolate(command[0], shell)


def depends_on(service: str) -> dict[str, dict[str, Any]]:
    deps = SERVICES[service].get("depends_on", {})
    assert isinstance(deps, dict), f"{service}: depends_on must be a mapping with conditions, not a list"
    return deps


def image_and_tag(service: str) -> tuple[str, str]:
    image = interpolate(SERVICES[service]["image"], MINIMAL_SHELL)
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    return name, tag


def project_sources() -> list[Path]:
    skip = {"tests", "build", "dist", "docs", "bench", "examples", "deploy", "venv"}
    return [
        path
        for path in ROOT.rglob("*.py")
        if not any(part.startswith(".") or part in skip for part in path.relative_to(ROOT).parts[:-1])
    ]


def variables_read_by(paths: list[Path]) -> set[str]:
    prefixes = "|".join(CONFIG_PREFIXES)
    pattern = re.compile(rf"""["'](?P<name>(?:{prefixes})[A-Z0-9_]+)["']""")
    return {m.group("name") for path in paths for m in pattern.finditer(path.read_text())}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def cli_commands() -> set[str]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("the orders CLI has no subcommands")


# --- images ---------------------------------------------------------------------------------------------------------


def test_images_are_official_and_pinned() -> None:
    for name, spec in SERVICES.items():
        if "build" in spec:
            assert spec["build"]["context"] == "." and spec["build"]["dockerfile"] == "Dockerfile", name
            assert image_and_tag(name)[1] not in ("", "latest"), f"{name}: tag the built image"
            continue
        image, tag = image_and_tag(name)
        if image in MINIO_IMAGES:
            assert MINIO_TAG.fullmatch(tag), f"{name}: pin a MinIO release tag, not {tag!r}"
            continue
        assert image in OFFICIAL_IMAGES | TRACING_IMAGES, (
            f"{name}: {image} is not an official Temporal, PostgreSQL, Jaeger or MinIO image"
        )
        assert re.fullmatch(r"\d+(\.\d+){0,2}", tag), f"{name}: pin an explicit version tag, not {tag!r}"
    used = {image_and_tag(name)[0] for name, spec in SERVICES.items() if "build" not in spec}
    assert used == OFFICIAL_IMAGES | MINIO_IMAGES | TRACING_IMAGES, (
        "the stack is PostgreSQL, the Temporal server, admin-tools, the UI, MinIO with its client, and Jaeger"
    )


def test_server_and_admin_tools_versions_match() -> None:
    """The admin-tools image sets up the schema its own server version expects."""
    server = {image_and_tag(n)[1] for n in SERVICES if image_and_tag(n)[0] == "temporalio/server"}
    tools = {image_and_tag(n)[1] for n in SERVICES if image_and_tag(n)[0] == "temporalio/admin-tools"}
    assert len(server) == 1 and server == tools
    assert not any("auto-setup" in str(spec.get("image")) for spec in SERVICES.values()), "auto-setup is deprecated"


def test_worker_and_webhooks_share_the_project_image() -> None:
    for service in ("webhooks", "codec-server"):
        assert SERVICES["worker"]["image"] == SERVICES[service]["image"]
        assert SERVICES["worker"]["build"] == SERVICES[service]["build"]


# --- the Temporal server ------------------------------------------------------------------------------------------


def test_temporal_persists_to_the_postgresql_service() -> None:
    for shell in (MINIMAL_SHELL, CUSTOM_SHELL):
        env = environment("temporal", shell)
        db = environment("postgresql", shell)
        assert env["DB"] == "postgres12"
        assert env["POSTGRES_SEEDS"] in SERVICES and SERVICES[env["POSTGRES_SEEDS"]]["image"].startswith("postgres:")
        assert env["DB_PORT"] == "5432"
        assert (env["POSTGRES_USER"], env["POSTGRES_PWD"]) == (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"])
        schema = environment("temporal-schema", shell)
        assert (schema["POSTGRES_USER"], schema["SQL_PASSWORD"]) == (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"])


def test_the_database_password_is_required() -> None:
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        environment("postgresql", {})
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        environment("temporal", {"POSTGRES_PASSWORD": ""})


def test_schema_setup_covers_both_databases() -> None:
    text = script("temporal-schema", MINIMAL_SHELL)
    for db, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"sql --db {db} create" in text
        assert f"sql --db {db} setup-schema -v 0.0" in text
        assert f'sql --db {db} update-schema -d "$schema/{schema}/versioned"' in text
    assert "schema=/etc/temporal/schema/postgresql/v12" in text
    assert "--plugin postgres12 --ep postgresql -p 5432" in text


def test_dynamic_config_file_is_mounted_and_valid() -> None:
    env = environment("temporal", MINIMAL_SHELL)
    inside = Path("/etc/temporal") / env["DYNAMIC_CONFIG_FILE_PATH"]
    for volume in SERVICES["temporal"]["volumes"]:
        host, container, *_ = volume.split(":")
        if inside.is_relative_to(container):
            path = ROOT / host / inside.relative_to(container)
            break
    else:
        raise AssertionError(f"nothing mounts {inside}")
    config = yaml.safe_load(path.read_text())
    assert isinstance(config, dict) and config
    for key, values in config.items():
        assert isinstance(values, list) and all("value" in v for v in values), key


# --- start-up order and health --------------------------------------------------------------------------------------


def test_depends_on_always_uses_conditions() -> None:
    for name in SERVICES:
        for dep, spec in depends_on(name).items():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            condition = spec.get("condition")
            assert condition in DEPENDS_ON_CONDITIONS, f"{name} -> {dep}: condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep} to be healthy, but it has no check"
            if condition == "service_completed_successfully":
                restart = str(SERVICES[dep].get("restart", "no"))
                assert restart == "no" or restart.startswith("on-failure"), f"{dep} must be a one-shot service"


def test_services_come_up_in_order() -> None:
    def closure(name: str, seen: tuple[str, ...] = ()) -> set[str]:
        assert name not in seen, f"depends_on cycle: {' -> '.join((*seen, name))}"
        deps = set(depends_on(name))
        return deps.union(*(closure(d, (*seen, name)) for d in deps)) if deps else set()

    assert depends_on("temporal")["postgresql"]["condition"] == "service_healthy"
    assert depends_on("temporal")["temporal-schema"]["condition"] == "service_completed_successfully"
    assert depends_on("temporal-setup")["temporal"]["condition"] == "service_healthy"
    assert depends_on("temporal-ui")["temporal"]["condition"] == "service_healthy"
    for app in ("worker", "webhooks"):
        assert depends_on(app)["temporal-setup"]["condition"] == "service_completed_successfully"
    temporal = {"postgresql", "temporal-schema", "temporal", "temporal-setup"}
    assert closure("webhooks") == temporal
    # The worker stores the order's PDFs in the bucket minio-setup creates: it starts after it.
    assert depends_on("worker")["minio-setup"]["condition"] == "service_completed_successfully"
    assert depends_on("minio-setup")["minio"]["condition"] == "service_healthy"
    assert closure("worker") == temporal | {"minio", "minio-setup"}


def test_health_checks() -> None:
    postgres = SERVICES["postgresql"]["healthcheck"]["test"]
    assert postgres[0] == "CMD-SHELL" and shlex.split(postgres[1])[0] == "pg_isready"
    temporal = SERVICES["temporal"]["healthcheck"]["test"]
    assert temporal == ["CMD", "nc", "-z", "localhost", "7233"]
    for name in ("postgresql", "temporal", "worker", "webhooks"):
        check = SERVICES[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check.get("retries", 0) >= 3, name


def test_worker_health_check_scrapes_its_metrics_endpoint() -> None:
    env = environment("worker", MINIMAL_SHELL)
    port = int(env["ORDERS_METRICS_ADDRESS"].rpartition(":")[2])
    check = SERVICES["worker"]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    compile(check[3], "healthcheck", "exec")
    url = urlsplit(re.findall(r"'(http://[^']+)'", check[3])[0])
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", port, "/metrics")
    assert str(port) in [str(p) for p in SERVICES["worker"]["expose"]]


# --- the set-up step ------------------------------------------------------------------------------------------------


def expected_search_attributes() -> dict[str, str]:
    pairs = search.dev_server_args()[1::2]  # ["--search-attribute", "Name=Type", ...]
    return dict(pair.split("=", 1) for pair in pairs)


def test_setup_registers_exactly_the_workflow_search_attributes() -> None:
    registered = re.findall(r"^\s*register (\w+) (\w+)\s*$", script("temporal-setup", MINIMAL_SHELL), re.MULTILINE)
    assert dict(registered) == expected_search_attributes()
    assert len(registered) == len(search.ALL_KEYS)
    assert {name for name, _ in registered} == {key.name for key in search.ALL_KEYS}


def test_every_service_uses_one_namespace() -> None:
    for shell, expected in ((MINIMAL_SHELL, "default"), (CUSTOM_SHELL, "orders-prod")):
        assert environment("temporal-setup", shell)["NAMESPACE"] == expected
        assert environment("temporal-ui", shell)["TEMPORAL_DEFAULT_NAMESPACE"] == expected
        assert environment("worker", shell)["TEMPORAL_NAMESPACE"] == expected
        assert environment("webhooks", shell)["TEMPORAL_NAMESPACE"] == expected


async def _run_setup(env: Mapping[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        script("temporal-setup", MINIMAL_SHELL),
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_setup_script_creates_the_namespace_and_attributes_idempotently(dev_env: WorkflowEnvironment) -> None:
    """Run the set-up step's script against the dev server with the real temporal CLI, twice."""
    cli = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    namespace = f"compose-setup-{uuid.uuid4().hex[:8]}"
    env = {
        **environment("temporal-setup", MINIMAL_SHELL),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "NAMESPACE": namespace,
        "PATH": f"{Path(cli).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    code, out = await _run_setup(env)
    assert code == 0, out
    assert f"namespace {namespace} created" in out

    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    for key in search.ALL_KEYS:
        assert listed.custom_attributes.get(key.name) == int(key.indexed_value_type), key.name

    # Again: the namespace is kept, and each attribute is accepted (servers
    # answer a same-type attribute with success or with "already exists").
    code, out = await _run_setup(env)
    assert code == 0, out
    assert f"namespace {namespace} exists" in out
    for name, kind in expected_search_attributes().items():
        assert re.search(rf"^search attribute {name} \({kind}\) (already )?registered$", out, re.MULTILINE), out
    again = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    assert again.custom_attributes == listed.custom_attributes


async def test_setup_script_fails_on_a_type_conflict(dev_env: WorkflowEnvironment) -> None:
    cli = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    namespace = f"compose-conflict-{uuid.uuid4().hex[:8]}"
    address = dev_env.client.service_client.config.target_host
    create = [cli, "operator", "namespace", "create", "--address", address, "--namespace", namespace]
    proc = await asyncio.create_subprocess_exec(*create, stdout=asyncio.subprocess.DEVNULL)
    assert await proc.wait() == 0
    conflict = [cli, "operator", "search-attribute", "create", "--address", address, "--namespace", namespace]
    conflict += ["--name", "OrderTotal", "--type", "Keyword"]  # the workflow needs Double
    for _ in range(30):  # a new namespace takes a moment to reach the frontend
        proc = await asyncio.create_subprocess_exec(*conflict, stdout=asyncio.subprocess.DEVNULL)
        if await proc.wait() == 0:
            break
        await asyncio.sleep(0.5)
    env = {
        **environment("temporal-setup", MINIMAL_SHELL),
        "TEMPORAL_ADDRESS": address,
        "NAMESPACE": namespace,
        "PATH": f"{Path(cli).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    code, out = await _run_setup(env)
    assert code != 0 and "different type" in out, out


def test_one_shot_scripts_are_valid_shell() -> None:
    for service in ("temporal-schema", "temporal-setup", "minio-setup"):
        text = script(service, MINIMAL_SHELL)
        assert text.startswith("set -eu\n"), service
        result = subprocess.run(["/bin/sh", "-n", "-c", text], capture_output=True, text=True)
        assert result.returncode == 0, f"{service}: {result.stderr}"
        undefined = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text)) - set(raw_environment(service))
        assert not undefined, f"{service} reads variables it is not given: {undefined}"


# --- the worker and the webhook receiver ----------------------------------------------------------------------------


def aws_variables_read_by(paths: list[Path]) -> set[str]:
    """boto3's own variables that the project reads itself (activities/config.py, DocumentBucket)."""
    return {name for path in paths for name in re.findall(r"""["'](AWS_[A-Z0-9_]+)["']""", path.read_text())}


LIBPQ = {"PGPASSWORD"}
"""libpq's own variables, read by psycopg for the key store (ORDERS_KEY_STORE=postgresql://...)."""


def test_worker_environment_names_are_read_by_the_project() -> None:
    known = variables_read_by(project_sources())
    aws = aws_variables_read_by([ROOT / "activities" / "config.py"])
    assert {"AWS_ENDPOINT_URL_S3", "AWS_SECRET_ACCESS_KEY"} <= aws  # the grep works
    stripe_landed = any(name.startswith("STRIPE_") for name in known)
    for service in ("worker", "webhooks"):
        passed = environment(service, MINIMAL_SHELL)
        for name in passed:
            if name.startswith("TEMPORAL_"):
                continue  # envconfig's, checked below by loading them
            if name in LIBPQ:
                assert "ORDERS_KEY_STORE" in passed, f"{service} passes {name} without a PostgreSQL key store"
                continue
            if name.startswith("AWS_"):
                assert name in aws, f"{service} passes {name}, which no code reads"
                continue
            if name.startswith("OTEL_"):
                assert name in OTEL_VARIABLES, f"{service} passes {name}, which OpenTelemetry does not read"
                continue
            assert name.startswith(CONFIG_PREFIXES), f"{service}: {name} is nobody's variable"
            if name.startswith("STRIPE_") and not stripe_landed:
                continue
            assert name in known, f"{service} passes {name}, which no code reads"
    if not stripe_landed:
        pytest.skip("no code reads STRIPE_* yet (the Stripe issue has not landed): STRIPE_* names unchecked")


# The OpenTelemetry SDK's standard variables (orderclient/tracing.py reads some of them itself).
OTEL_VARIABLES = {
    value
    for module in (otel_api_environment, otel_sdk_environment)
    for name, value in vars(module).items()
    if name.startswith("OTEL_")
}
TRACED_SERVICES = ("worker", "webhooks", "codec-server")
OTEL_PASSED = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_TRACES_EXPORTER",
    "OTEL_RESOURCE_ATTRIBUTES",
)


def test_tracing_is_off_in_the_stack_until_an_endpoint_is_set() -> None:
    for service in TRACED_SERVICES:
        raw = raw_environment(service)
        for name in OTEL_PASSED:
            assert raw.get(name) == f"${{{name}:-}}", f"{service} must pass {name} through"
        assert "OTEL_SERVICE_NAME" not in raw, "each process names itself (orders-worker, ...)"
        assert tracing.exporters_from_env(environment(service, MINIMAL_SHELL)) == []
        traced = environment(service, {**MINIMAL_SHELL, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"})
        assert tracing.exporters_from_env(traced) == ["otlp"]
        assert tracing.otlp_endpoint(traced) == "http://jaeger:4318/v1/traces"
    assert "4318" in [str(port) for port in SERVICES["jaeger"]["expose"]]


def test_jaeger_runs_only_with_the_tracing_profile_and_on_this_host_only() -> None:
    spec = SERVICES["jaeger"]
    assert spec["profiles"] == ["tracing"]
    assert image_and_tag("jaeger")[0] == "jaegertracing/jaeger"
    command = " ".join(spec["command"])
    # Jaeger 2's OTLP receivers listen on localhost unless told otherwise: the other containers could not reach it.
    assert "receivers.otlp.protocols.http.endpoint=0.0.0.0:4318" in command
    published_ports = {published(str(port), MINIMAL_SHELL) for port in spec["ports"]}
    assert published_ports == {("127.0.0.1", "16686", "16686"), ("127.0.0.1", "4318", "4318")}
    for service in TRACED_SERVICES:
        assert "jaeger" not in SERVICES[service].get("depends_on", {}), "tracing must stay optional"


# Read by Settings but used only by the webhook receiver (and the other web-facing
# processes): the worker never gets it.
WEBHOOKS_ONLY = {
    "STRIPE_WEBHOOK_SECRET",
    "ORDERS_HTTP_HEADER_TIMEOUT",
    "ORDERS_HTTP_BODY_TIMEOUT",
    "ORDERS_TRUSTED_PROXIES",
}


def test_worker_passes_every_variable_of_its_configuration() -> None:
    configuration = variables_read_by([ROOT / "activities" / "config.py", ROOT / "worker.py"])
    assert {"ORDERS_OUTBOX_DIR", "ORDERS_PAYMENT_DUE", "SENDGRID_API_KEY"} <= configuration  # the grep works
    missing = configuration - WEBHOOKS_ONLY - set(raw_environment("worker"))
    assert not missing, f"the worker service does not pass {sorted(missing)}"
    assert not WEBHOOKS_ONLY & set(raw_environment("worker"))
    assert WEBHOOKS_ONLY.issubset(raw_environment("webhooks"))


def test_worker_environment_configures_the_worker() -> None:
    env = environment("worker", MINIMAL_SHELL)
    settings = Settings.from_env({k: v for k, v in env.items() if not k.startswith("TEMPORAL_")})
    assert settings == Settings.from_env(
        {"ORDERS_OUTBOX_DIR": "/data/outbox", "ORDERS_METRICS_ADDRESS": "0.0.0.0:9000", **STACK_BUCKET}
    ), "empty pass-through values must leave the worker's defaults"
    assert settings.outbox_dir == Path("/data/outbox")
    assert settings.email_backend == "outbox"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in SERVICES["worker"]["volumes"]}
    assert mounts.get(str(settings.outbox_dir)) in COMPOSE["volumes"], "the outbox must be on a named volume"

    custom = environment("worker", {**MINIMAL_SHELL, "ORDERS_PAYMENT_DUE": "P30D", "SENDGRID_API_KEY": "SG.x"})
    settings = Settings.from_env(custom)
    assert settings.policy.payment_due.days == 30 and settings.email_backend == "sendgrid"


# What the stack fixes for the worker's documents: the minio service's bucket, with the key
# minio-setup makes (its secret from .env).
STACK_BUCKET = {
    "ORDERS_DOCUMENTS_BUCKET": "orders-documents",
    "AWS_ENDPOINT_URL_S3": "http://minio:9000",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "orders-worker",
    "AWS_SECRET_ACCESS_KEY": MINIMAL_SHELL["AWS_SECRET_ACCESS_KEY"],
}


def test_worker_keeps_confirmation_pdfs_on_their_own_volume() -> None:
    # Each version's PDF is written once and served for as long as the order is readable:
    # it must outlive the container, and the image's user must be able to write it.
    settings = Settings.from_env(environment("worker", MINIMAL_SHELL))
    assert settings.documents_path == Path("/data/documents")
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in SERVICES["worker"]["volumes"]}
    assert mounts.get("/data/documents") == "documents" and "documents" in COMPOSE["volumes"]
    assert mounts.get("/data/documents") != mounts.get("/data/outbox")
    # The stack keeps them in its bucket; emptied, on this volume or in ORDERS_DOCUMENTS_DIR.
    off = {**MINIMAL_SHELL, "ORDERS_DOCUMENTS_BUCKET": ""}
    assert Settings.from_env(environment("worker", off)).documents_bucket is None
    moved = Settings.from_env(environment("worker", {**off, "ORDERS_DOCUMENTS_DIR": "/srv/pdf"}))
    assert moved.documents_path == Path("/srv/pdf")
    with pytest.raises(ConfigError, match="ORDERS_DOCUMENTS_DIR and ORDERS_DOCUMENTS_BUCKET are both set"):
        Settings.from_env(environment("worker", {**MINIMAL_SHELL, "ORDERS_DOCUMENTS_DIR": "/srv/pdf"}))
    created = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN")
    assert re.search(r"mkdir -p [^&]*/data/documents", created)
    assert re.search(r"chown [^&]*orders:orders [^&]*/data/documents", created)


# --- the documents bucket (MinIO) ---------------------------------------------------------------------------------


def test_minio_keeps_its_data_on_a_volume_and_is_reached_from_this_host_only() -> None:
    spec = SERVICES["minio"]
    assert spec["command"] == ["server", "/data", "--console-address", ":9001"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in spec["volumes"]}
    assert mounts.get("/data") in COMPOSE["volumes"], "the bucket's objects must outlive the container"
    published_ports = {published(str(port), MINIMAL_SHELL) for port in spec["ports"]}
    assert published_ports == {("127.0.0.1", "9000", "9000"), ("127.0.0.1", "9001", "9001")}
    check = spec["healthcheck"]
    assert check["test"] == ["CMD", "mc", "ready", "local"] and check.get("retries", 0) >= 3
    assert spec["restart"] == "unless-stopped"


def test_minio_needs_its_passwords_and_has_no_default_one() -> None:
    for service, name in (("minio", "MINIO_ROOT_PASSWORD"), ("minio-setup", "AWS_SECRET_ACCESS_KEY")):
        without = {k: v for k, v in MINIMAL_SHELL.items() if k != name}
        with pytest.raises(InterpolationError, match=name):
            environment(service, without)
    with pytest.raises(InterpolationError, match="AWS_SECRET_ACCESS_KEY"):
        environment("worker", {**MINIMAL_SHELL, "AWS_SECRET_ACCESS_KEY": ""})
    root = environment("minio", MINIMAL_SHELL)
    assert root["MINIO_ROOT_PASSWORD"] == MINIMAL_SHELL["MINIO_ROOT_PASSWORD"]
    assert root["MINIO_ROOT_USER"] not in ("minioadmin", ""), "MinIO's well-known default user"


def test_worker_keeps_the_pdfs_in_the_bucket_minio_setup_creates() -> None:
    env = environment("worker", MINIMAL_SHELL)
    bucket = Settings.from_env(env).documents_bucket
    setup = environment("minio-setup", MINIMAL_SHELL)
    assert bucket is not None
    assert bucket.bucket == setup["BUCKET"] == "orders-documents"
    # The worker's own key, which minio-setup creates: not MinIO's administrator.
    assert (bucket.access_key_id, bucket.secret_access_key) == (
        setup["AWS_ACCESS_KEY_ID"],
        setup["AWS_SECRET_ACCESS_KEY"],
    )
    assert bucket.access_key_id != environment("minio", MINIMAL_SHELL)["MINIO_ROOT_USER"]
    endpoint = urlsplit(bucket.endpoint_url or "")
    assert endpoint.hostname in SERVICES and endpoint.port == 9000
    assert published(SERVICES["minio"]["ports"][0], MINIMAL_SHELL)[2] == "9000"
    # Another S3 from .env: the same variables, and the bucket's name in both services.
    custom = {
        **MINIMAL_SHELL,
        "ORDERS_DOCUMENTS_BUCKET": "acme-orders",
        "ORDERS_DOCUMENTS_PREFIX": "prod/",
        "AWS_ENDPOINT_URL_S3": "https://s3.eu-central-1.amazonaws.com",
        "AWS_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    }
    bucket = Settings.from_env(environment("worker", custom)).documents_bucket
    assert bucket is not None
    assert (bucket.bucket, bucket.prefix, bucket.endpoint_url, bucket.region, bucket.access_key_id) == (
        "acme-orders",
        "prod/",
        "https://s3.eu-central-1.amazonaws.com",
        "eu-central-1",
        "AKIAEXAMPLE",
    )
    assert environment("minio-setup", custom)["BUCKET"] == "acme-orders"


FAKE_MC = """#!/bin/sh
# Records each call; answers "policy attach" as MinIO does once the policy is attached.
echo "$*" >> "$MC_LOG"
case "$*" in
  "admin policy create "*) cp "$6" "$MC_LOG.policy" ;;
  "admin policy attach "*)
    if [ -n "${MC_ATTACH_ERROR:-}" ]; then echo "$MC_ATTACH_ERROR" >&2; exit 1; fi ;;
esac
"""


def _run_minio_setup(tmp_path: Path, shell: Mapping[str, str], **env: str) -> tuple[int, str, list[str]]:
    """minio-setup's script with a stand-in ``mc`` that records what it is asked to do."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mc").write_text(FAKE_MC)
    (bin_dir / "mc").chmod(0o755)
    log = tmp_path / "mc.log"
    log.unlink(missing_ok=True)
    run_env = {
        **environment("minio-setup", shell),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MC_LOG": str(log),
        **env,
    }
    proc = subprocess.run(["/bin/sh", "-c", script("minio-setup", shell)], env=run_env, capture_output=True, text=True)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, proc.stdout + proc.stderr, calls


def test_minio_setup_makes_a_private_versioned_bucket_and_a_key_limited_to_it(tmp_path: Path) -> None:
    code, out, calls = _run_minio_setup(tmp_path, MINIMAL_SHELL)
    assert code == 0, out
    secret = MINIMAL_SHELL["AWS_SECRET_ACCESS_KEY"]
    assert calls == [
        f"alias set stack http://minio:9000 orders-admin {MINIMAL_SHELL['MINIO_ROOT_PASSWORD']}",
        "mb --ignore-existing --with-versioning stack/orders-documents",
        "anonymous set none stack/orders-documents",
        "admin policy create stack orders-documents /tmp/orders-documents.json",
        f"admin user add stack orders-worker {secret}",
        "admin policy attach stack orders-documents --user orders-worker",
    ]
    assert secret not in out, "the script never prints the key's secret"
    policy = json.loads((tmp_path / "mc.log.policy").read_text())
    allowed = {
        (action, resource)
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
        for resource in statement["Resource"]
    }
    # Read and add documents, and tell a missing one from a forbidden one: never delete or replace a version.
    assert allowed == {
        ("s3:GetObject", "arn:aws:s3:::orders-documents/*"),
        ("s3:PutObject", "arn:aws:s3:::orders-documents/*"),
        ("s3:ListBucket", "arn:aws:s3:::orders-documents"),
    }
    host_address = urlsplit(calls[0].split()[3])
    assert host_address.hostname in SERVICES and host_address.port == 9000


def test_minio_setup_can_run_again(tmp_path: Path) -> None:
    code, out, _ = _run_minio_setup(tmp_path, MINIMAL_SHELL, MC_ATTACH_ERROR="policy is already attached")
    assert code == 0, out
    code, out, _ = _run_minio_setup(tmp_path, MINIMAL_SHELL, MC_ATTACH_ERROR="Unable to reach the server")
    assert code != 0 and "Unable to reach the server" in out
    # No bucket wanted: nothing to set up, and the worker keeps documents on its volume.
    code, out, calls = _run_minio_setup(tmp_path, {**MINIMAL_SHELL, "ORDERS_DOCUMENTS_BUCKET": ""})
    assert code == 0 and calls == [] and "volume" in out
    # Another S3 service: the stack's minio is not where the documents are.
    elsewhere = {**MINIMAL_SHELL, "AWS_ENDPOINT_URL_S3": "https://s3.eu-central-1.amazonaws.com"}
    code, out, calls = _run_minio_setup(tmp_path, elsewhere)
    assert code == 0 and calls == [] and "nothing to set up" in out


def test_worker_and_webhooks_connect_to_the_stack_server() -> None:
    for service in ("worker", "webhooks"):
        for shell, namespace in ((MINIMAL_SHELL, "default"), (CUSTOM_SHELL, "orders-prod")):
            temporal = {k: v for k, v in environment(service, shell).items() if k.startswith("TEMPORAL_")}
            config = ClientConfig.load_client_connect_config(disable_file=True, override_env_vars=temporal)
            assert config == {"target_host": "temporal:7233", "namespace": namespace}, service
    host, _, port = "temporal:7233".partition(":")
    assert host in SERVICES and SERVICES[host]["healthcheck"]["test"][-1] == port


def test_secrets_are_never_literal() -> None:
    secret_ref = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*)(?::-|:\?[^}]*|\?[^}]*)?\}")
    for service in SERVICES:
        for name, value in raw_environment(service).items():
            if SECRET_NAME.search(name):
                match = secret_ref.fullmatch(value)
                assert match, f"{service}: {name} must come from the environment, not {value!r}"
                assert SECRET_NAME.search(match.group("name")), f"{service}: {name} is read from a non-secret"
    example = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    )
    for name, value in example.items():
        if SECRET_NAME.search(name):
            assert value == "", f".env.example must leave {name} empty"
    for keyword, rest in dockerfile_instructions():
        if keyword in ("ENV", "ARG"):
            assert not SECRET_NAME.search(rest.split("=")[0]), f"the Dockerfile sets a secret: {rest}"


def test_env_example_lists_exactly_what_compose_reads() -> None:
    example = {
        line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    }
    assert example == referenced_variables(COMPOSE)


def test_worker_scales_horizontally() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker, "a fixed host port would make `--scale worker=3` collide"
    assert "hostname" not in worker
    assert not any("container_name" in spec for spec in SERVICES.values())
    assert worker["command"] == ["python", "worker.py"]


def test_webhooks_service_runs_orders_webhooks() -> None:
    spec = SERVICES["webhooks"]
    command = spec["command"]
    assert command[:2] == ["orders", "webhooks"]
    options = dict(zip(command[2::2], command[3::2], strict=True))
    address, host_port, container_port = published(spec["ports"][0], MINIMAL_SHELL)
    assert options == {"--host": "0.0.0.0", "--port": container_port}
    assert (address, host_port) == ("127.0.0.1", "8081")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^orders = "starter\.cli:run"$', pyproject, re.MULTILINE)


def test_webhooks_is_an_orders_command() -> None:
    if "webhooks" not in cli_commands():
        pytest.skip("`orders webhooks` does not exist yet (the Stripe issue has not landed)")
    args = build_parser().parse_args(SERVICES["webhooks"]["command"][1:])
    assert (args.host, int(args.port)) == ("0.0.0.0", 8080)


def published(spec: str, shell: Mapping[str, str]) -> tuple[str, str, str]:
    """``ADDRESS:HOST_PORT:CONTAINER_PORT`` after interpolation; a missing address is every interface."""
    parts = interpolate(spec, shell).split(":")
    if len(parts) == 2:
        return "0.0.0.0", parts[0], parts[1]
    address, host_port, container_port = parts
    return address, host_port, container_port


def test_ui_is_on_port_8080_of_this_host_only() -> None:
    [spec] = SERVICES["temporal-ui"]["ports"]
    assert published(spec, MINIMAL_SHELL) == ("127.0.0.1", "8080", "8080")
    assert published(spec, {**MINIMAL_SHELL, "ORDERS_UI_BIND": "10.0.0.5"}) == ("10.0.0.5", "8080", "8080")
    env = environment("temporal-ui", MINIMAL_SHELL)
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_every_published_port_is_bound_to_loopback_by_default() -> None:
    """Nothing of the stack is reachable from the network until an operator decides so."""
    for name, spec in SERVICES.items():
        for port in spec.get("ports", []):
            address, _, _ = published(str(port), MINIMAL_SHELL)
            assert address == "127.0.0.1", f"{name} publishes {port} on {address}"


# --- encryption and the codec server --------------------------------------------------------------------------------


def test_every_service_that_talks_to_temporal_has_the_same_keys() -> None:
    for service in ("worker", "webhooks", "codec-server"):
        assert raw_environment(service)["ORDERS_ENCRYPTION_KEYS"] == "${ORDERS_ENCRYPTION_KEYS:-}", service
    keys = "k1:" + "A" * 43 + "="
    for service in ("worker", "webhooks", "codec-server"):
        assert environment(service, {**MINIMAL_SHELL, "ORDERS_ENCRYPTION_KEYS": keys})["ORDERS_ENCRYPTION_KEYS"] == keys


def test_codec_server_runs_orders_codec_server_for_the_ui() -> None:
    spec = SERVICES["codec-server"]
    args = build_parser().parse_args(spec["command"][1:])
    assert spec["command"][:2] == ["orders", "codec-server"]
    address, host_port, container_port = published(spec["ports"][0], MINIMAL_SHELL)
    assert (args.host, str(args.port)) == ("0.0.0.0", container_port)
    assert address == "127.0.0.1"
    ui = environment("temporal-ui", MINIMAL_SHELL)
    endpoint = urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"])
    assert (endpoint.hostname, str(endpoint.port)) == ("localhost", host_port), "the browser reaches the codec here"
    codec = environment("codec-server", MINIMAL_SHELL)
    ui_port = published(SERVICES["temporal-ui"]["ports"][0], MINIMAL_SHELL)[1]
    assert codec["ORDERS_CODEC_CORS_ORIGINS"] == f"http://localhost:{ui_port}", "CORS admits the UI's origin"
    assert raw_environment("codec-server")["ORDERS_CODEC_TOKEN"] == "${ORDERS_CODEC_TOKEN:-}"
    assert "healthcheck" in spec


# --- the Dockerfile -------------------------------------------------------------------------------------------------


def test_dockerfile_builds_a_slim_non_root_worker_image() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")

    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith(("root:", "0:"))
    created = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(rf"useradd\b.*\b{re.escape(users[-1])}\b", created), "the USER must be created in the image"

    installs = [rest for keyword, rest in instructions if keyword == "RUN" and "pip install" in rest]
    # The project from pyproject.toml, with the tracing extra: the OTEL_* variables turn tracing on in the stack.
    assert len(installs) == 1 and shlex.split(installs[0])[-1] == ".[tracing]", (
        "install the project from pyproject.toml"
    )
    assert "[dev]" not in installs[0]
    last_user = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "USER")
    assert instructions.index(("RUN", installs[0])) < last_user, "install as root, then switch to the user"

    cmd = [rest for keyword, rest in instructions if keyword == "CMD"]
    assert cmd == ['["python", "worker.py"]']
    assert ("WORKDIR", "/app") in instructions
    assert ("EXPOSE", "9000") in instructions
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert "PYTHONUNBUFFERED=1" in env


def test_dockerfile_copies_only_what_the_package_needs() -> None:
    ignored = [line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")]
    for must_ignore in (".git", ".venv", ".env", ".orders", "tests", ".mypy_cache", ".pytest_cache"):
        assert must_ignore in ignored, must_ignore
    copies = [shlex.split(rest)[:-1] for keyword, rest in dockerfile_instructions() if keyword == "COPY"]
    sources = [source for sources in copies for source in sources]
    assert "pyproject.toml" in sources and "worker.py" in sources
    packages = re.search(r"packages = \[(.*?)\]", (ROOT / "pyproject.toml").read_text())
    assert packages is not None
    for package in re.findall(r'"(\w+)"', packages.group(1)):
        assert package in sources, f"the image lacks the {package} package"
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch(source, pattern) for pattern in ignored), f"{source} is excluded by .dockerignore"
