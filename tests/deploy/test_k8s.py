"""The Kubernetes manifests (deploy/k8s), checked without a cluster.

Every manifest is plain YAML (kustomization.yaml only lists files and sets the
image), so the tests read the files themselves: core resources are validated
against Kubernetes' own JSON schemas offline (kubernetes-validate), KEDA's and
the Temporal Worker Controller's custom resources against the small schemas in
tests/deploy/schemas, written from their documented fields. Then the manifests
are checked against the project: the settings the code reads, the worker's
health endpoint and graceful shutdown, the memory rule of docs/deployment.md,
the task queue, the CLI's commands and the Dockerfile. The search-attribute
Job's script runs for real against the dev server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.envconfig import ClientConfig, ClientConfigProfile, ClientConfigTLS
from temporalio.testing import WorkflowEnvironment

import worker
from activities.config import Settings
from orderclient import health
from starter.cli import build_parser
from workflows import search
from workflows.names import TASK_QUEUE

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES_VERSION = "1.37.0"
HELM_VALUES = K8S / "temporal" / "values.yaml"
NOT_MANIFESTS = {HELM_VALUES, *K8S.rglob("kustomization.yaml")}
CUSTOM_SCHEMAS = {
    "keda.sh/v1alpha1": "keda-scaledobject.json",
    "temporal.io/v1alpha1": "temporal-worker-controller.json",
}
SECRET_NAME = re.compile(r"(KEYS?|SECRET|PASSWORD|PWD|TOKEN)$")
CONFIG_PREFIXES = ("ORDERS_", "SENDGRID_", "STRIPE_")
MIB = 1024 * 1024
KIB = 1024


# --- reading the manifests ------------------------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(path for path in K8S.rglob("*.yaml") if path not in NOT_MANIFESTS)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_resources() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in manifest_files():
        for doc in documents(path):
            yield path, doc


def resource(kind: str, name: str, path: Path | None = None) -> dict[str, Any]:
    found = [
        doc
        for where, doc in all_resources()
        if doc["kind"] == kind and doc["metadata"]["name"] == name and (path is None or where == path)
    ]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


ORDERS = K8S / "orders"


def deployment(name: str) -> dict[str, Any]:
    return resource("Deployment", name)


def container(spec: dict[str, Any]) -> dict[str, Any]:
    containers = spec["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def config_map(name: str, path: Path) -> dict[str, str]:
    data: dict[str, str] = resource("ConfigMap", name, path)["data"]
    return data


def environment_names(spec: dict[str, Any], config_dir: Path = ORDERS) -> set[str]:
    """Every variable a container gets: its env, and the keys of the ConfigMaps it takes whole."""
    box = container(spec)
    names = {entry["name"] for entry in box.get("env", [])}
    for source in box.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        for path in config_dir.glob("*.yaml"):
            for doc in documents(path):
                if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == ref:
                    names |= set(doc["data"])
    return names


def literal_env(spec: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in container(spec).get("env", []) if "value" in entry}


def worker_spec() -> dict[str, Any]:
    spec: dict[str, Any] = deployment("orders-worker")["spec"]
    return spec


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def named_port(box: dict[str, Any], name: str) -> int:
    ports = {port["name"]: port["containerPort"] for port in box["ports"]}
    return int(ports[name])


def quantity_bytes(quantity: str) -> int:
    units = {"Ki": KIB, "Mi": MIB, "Gi": 1024 * MIB}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def variables_read_by(paths: list[Path]) -> set[str]:
    prefixes = "|".join(CONFIG_PREFIXES)
    pattern = re.compile(rf"""["'](?P<name>(?:{prefixes})[A-Z0-9_]+)["']""")
    return {m.group("name") for path in paths for m in pattern.finditer(path.read_text())}


def kubernetes_section() -> str:
    text = (ROOT / "docs" / "deployment.md").read_text()
    start = text.index("\n## Kubernetes\n")
    end = text.find("\n## ", start + 5)
    return text[start : end if end != -1 else None]


# --- every manifest is valid ----------------------------------------------------------------------------------------


def test_there_are_manifests_for_every_part() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in all_resources()}
    for name in ("orders-worker", "orders-portal", "orders-webhooks", "orders-codec-server"):
        assert ("Deployment", name) in kinds
    for name in ("orders-portal", "orders-webhooks", "orders-codec-server"):
        assert ("Service", name) in kinds
    assert ("ScaledObject", "orders-worker") in kinds
    assert ("TemporalWorkerDeployment", "orders-worker") in kinds
    assert ("Job", "orders-search-attributes") in kinds


@pytest.mark.parametrize("path", manifest_files(), ids=lambda path: str(path.relative_to(K8S)))
def test_every_manifest_validates_offline(path: Path) -> None:
    for doc in documents(path):
        schema_file = CUSTOM_SCHEMAS.get(doc["apiVersion"])
        if schema_file is None:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            continue
        jsonschema.validate(doc, json.loads((SCHEMAS / schema_file).read_text()))
        if doc["kind"] == "TemporalWorkerDeployment":
            # Its pod template is a core PodTemplateSpec: validate it inside a Deployment.
            labels = doc["spec"]["template"]["metadata"]["labels"]
            wrapped = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": doc["metadata"]["name"]},
                "spec": {"selector": {"matchLabels": labels}, "template": doc["spec"]["template"]},
            }
            kubernetes_validate.validate(wrapped, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_refused() -> None:
    """The validators do refuse something: a misspelt field, a custom resource without its task queue."""
    broken = json.loads(json.dumps(deployment("orders-worker")))
    container(broken["spec"])["livenesProbe"] = container(broken["spec"]).pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    scaled = json.loads(json.dumps(resource("ScaledObject", "orders-worker")))
    del scaled["spec"]["triggers"][0]["metadata"]["taskQueue"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, json.loads((SCHEMAS / "keda-scaledobject.json").read_text()))


def test_kustomization_lists_every_manifest_of_the_stack() -> None:
    kustomization = yaml.safe_load((ORDERS / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {path.name for path in ORDERS.glob("*.yaml") if path.name != "kustomization.yaml"}
    assert [image["name"] for image in kustomization["images"]] == ["service-orders"]


def test_manifests_name_no_namespace() -> None:
    """Namespace-agnostic: `kubectl apply -n <yours>` decides."""
    for path, doc in all_resources():
        assert "namespace" not in doc["metadata"], f"{path.name}: {doc['kind']} names a namespace"


# --- the worker -----------------------------------------------------------------------------------------------------


def sizing_rule_bytes(cached: int) -> float:
    """docs/deployment.md, "Sizing a worker": 330 MiB + 150 KiB x (cache - 1,000), plus a quarter."""
    return (330 * MIB + 150 * KIB * (cached - 1000)) * 1.25


def test_the_sizing_rule_is_the_one_docs_state() -> None:
    sizing = (ROOT / "docs" / "deployment.md").read_text()
    assert "330 MiB" in sizing and "150 KiB" in sizing and "plus a quarter for headroom" in sizing
    assert "fits in 512 MiB" in sizing


@pytest.mark.parametrize("kind", ["Deployment", "TemporalWorkerDeployment"])
def test_worker_memory_limit_follows_the_sizing_rule(kind: str) -> None:
    spec = resource(kind, "orders-worker")["spec"]
    cached = int(literal_env(spec)["ORDERS_MAX_CACHED_WORKFLOWS"])
    assert Settings.from_env({"ORDERS_MAX_CACHED_WORKFLOWS": str(cached)}).max_cached_workflows == cached
    resources = container(spec)["resources"]
    limit = quantity_bytes(resources["limits"]["memory"])
    needed = sizing_rule_bytes(cached)
    assert needed <= limit <= needed + 128 * MIB, f"{limit / MIB:.0f} MiB for {cached} cached orders"
    assert resources["requests"]["memory"] == resources["limits"]["memory"]


def test_worker_manifest_shows_the_arithmetic() -> None:
    text = (ORDERS / "worker.yaml").read_text()
    cached = int(literal_env(worker_spec())["ORDERS_MAX_CACHED_WORKFLOWS"])
    assert f"150 KiB x ({cached:,} - 1,000)" in text
    assert (
        f"= {sizing_rule_bytes(cached) / MIB:.1f} MiB -> {container(worker_spec())['resources']['limits']['memory']}"
        in (text)
    )


@pytest.mark.parametrize("kind", ["Deployment", "TemporalWorkerDeployment"])
def test_termination_grace_covers_the_graceful_shutdown(kind: str) -> None:
    grace = resource(kind, "orders-worker")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    shutdown = worker.GRACEFUL_SHUTDOWN.total_seconds()
    assert shutdown + 10 <= grace <= shutdown + 30


@pytest.mark.parametrize("kind", ["Deployment", "TemporalWorkerDeployment"])
def test_prometheus_scrapes_the_metrics_port_the_worker_serves(kind: str) -> None:
    spec = resource(kind, "orders-worker")["spec"]
    annotations = spec["template"]["metadata"]["annotations"]
    address = literal_env(spec)["ORDERS_METRICS_ADDRESS"]
    assert Settings.from_env({"ORDERS_METRICS_ADDRESS": address}).metrics_address == address
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port_of(address) == named_port(container(spec), "metrics")
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("kind", ["Deployment", "TemporalWorkerDeployment"])
def test_worker_probes_hit_the_health_endpoint_it_serves(kind: str) -> None:
    spec = resource(kind, "orders-worker")["spec"]
    box = container(spec)
    address = literal_env(spec)[health.HEALTH_ADDRESS_ENV]
    assert Settings.from_env({health.HEALTH_ADDRESS_ENV: address}).health_address == address
    health_port = named_port(box, "health")
    assert port_of(address) == health_port
    for probe, path in (("livenessProbe", health.LIVE_PATH), ("readinessProbe", health.READY_PATH)):
        get = box[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["port"] == "health", probe


def test_worker_runs_the_image_command() -> None:
    cmd = next(rest for keyword, rest in dockerfile_instructions() if keyword == "CMD")
    assert container(worker_spec())["command"] == json.loads(cmd)
    assert container(resource("TemporalWorkerDeployment", "orders-worker")["spec"])["command"] == json.loads(cmd)


def test_the_versioned_worker_matches_the_plain_one() -> None:
    plain = container(worker_spec())
    versioned = container(resource("TemporalWorkerDeployment", "orders-worker")["spec"])
    for key in ("command", "ports", "resources", "livenessProbe", "readinessProbe", "securityContext"):
        assert versioned[key] == plain[key], key
    plain_env = {entry["name"]: entry for entry in plain["env"] if entry["name"] != "TEMPORAL_API_KEY"}
    assert {entry["name"]: entry for entry in versioned["env"]} == plain_env
    # The controller sets these itself, per version.
    assert not {"ORDERS_DEPLOYMENT_NAME", "ORDERS_BUILD_ID"} & {entry["name"] for entry in versioned["env"]}


# --- settings and secrets -------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


# Read by the processes, deliberately not set by the manifests (docs/deployment.md's Kubernetes section says why).
def test_every_variable_the_worker_reads_is_set_or_documented() -> None:
    read = variables_read_by(
        [ROOT / "activities" / "config.py", ROOT / "worker.py", ROOT / "orderclient" / "connection.py"]
    )
    read |= variables_read_by([ROOT / "orderclient" / "health.py"])
    read |= variables_read_by([ROOT / "ordersecurity" / "codec.py", ROOT / "ordersecurity" / "links.py"])
    read -= {"ORDERS_CODEC_TOKEN", "ORDERS_CODEC_CORS_ORIGINS"}  # the codec server's, below
    assert {"ORDERS_MAX_CACHED_WORKFLOWS", "ORDERS_ENCRYPTION_KEYS", "ORDERS_HEALTH_ADDRESS"} <= read  # the grep works
    unset = read - environment_names(worker_spec())
    documented = kubernetes_section()
    missing = sorted(name for name in unset if f"`{name}`" not in documented)
    assert not missing, f"the worker is not given {missing}, and docs/deployment.md's Kubernetes section is silent"


@pytest.mark.parametrize(
    ("name", "sources"),
    [
        ("orders-portal", ["orderweb/portal.py", "activities/config.py"]),
        ("orders-webhooks", ["orderweb/webhooks.py", "activities/config.py"]),
        ("orders-codec-server", ["orderweb/codec_server.py"]),
    ],
)
def test_every_variable_the_web_processes_read_is_set_or_documented(name: str, sources: list[str]) -> None:
    read = variables_read_by([ROOT / source for source in sources]) | {"ORDERS_ENCRYPTION_KEYS"}
    unset = read - environment_names(deployment(name)["spec"])
    documented = kubernetes_section()
    missing = sorted(name for name in unset if f"`{name}`" not in documented)
    assert not missing, f"{name} is not given {missing}, and docs/deployment.md's Kubernetes section is silent"


def test_the_config_map_configures_the_worker() -> None:
    config = config_map("orders-config", ORDERS / "config.yaml")
    env = {**config, **literal_env(worker_spec())}
    settings = Settings.from_env(env)
    assert settings.max_cached_workflows == int(env["ORDERS_MAX_CACHED_WORKFLOWS"])
    assert (
        settings.documents_bucket is not None and settings.documents_bucket.bucket == config["ORDERS_DOCUMENTS_BUCKET"]
    )
    assert str(settings.outbox_dir) == config["ORDERS_OUTBOX_DIR"]
    mounts = {mount["mountPath"] for mount in container(worker_spec())["volumeMounts"]}
    assert config["ORDERS_OUTBOX_DIR"] in mounts, "the outbox must be a writable volume (read-only root)"


def test_secrets_come_from_secrets_only() -> None:
    for path, doc in all_resources():
        if doc["kind"] == "ConfigMap":
            for name in doc["data"]:
                assert not SECRET_NAME.search(name), f"{path.name}: ConfigMap {doc['metadata']['name']} holds {name}"
        if doc["kind"] == "Secret":
            assert path.name.endswith(".example.yaml"), f"{path.name} holds a Secret: only templates may"
            for name, value in doc["stringData"].items():
                assert re.fullmatch(r"<[^<>]+>(:<[^<>]+>)?", value), f"{name} in the template must be a placeholder"
        spec = doc.get("spec", {})
        template = spec.get("template", spec.get("jobTemplate", {}))
        for box in template.get("spec", {}).get("containers", []):
            for entry in box.get("env", []):
                if SECRET_NAME.search(entry["name"]):
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (
                        f"{path.name}: {entry['name']} is not a secretKeyRef"
                    )


def test_the_secret_template_is_not_applied_and_has_every_key_the_manifests_read() -> None:
    template = resource("Secret", "orders-secrets")
    referenced = set()
    for _, doc in all_resources():
        spec = doc.get("spec", {})
        for box in spec.get("template", {}).get("spec", {}).get("containers", []):
            for entry in box.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] == "orders-secrets":
                    referenced.add(ref["key"])
                    assert ref["key"] == entry["name"]
    assert referenced == set(template["stringData"])
    listed = yaml.safe_load((ORDERS / "kustomization.yaml").read_text())["resources"]
    assert not [name for name in listed if "secret" in name], "kubectl apply -k must not create placeholder Secrets"


def test_helm_values_hold_no_password() -> None:
    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert key.lower() != "password", f"{path}.{key}: use existingSecret"
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    walk(yaml.safe_load(HELM_VALUES.read_text()), "values")


# --- commands, images, services -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["orders-portal", "orders-webhooks", "orders-codec-server"])
def test_web_processes_run_orders_commands_on_their_ports(name: str) -> None:
    spec = deployment(name)["spec"]
    box = container(spec)
    assert box["image"] == "service-orders"
    assert box["command"][0] == "orders"
    args = build_parser().parse_args(box["command"][1:])
    assert args.host == "0.0.0.0"
    assert args.port == named_port(box, "http")
    for probe in ("livenessProbe", "readinessProbe"):
        assert box[probe]["tcpSocket"]["port"] == "http"
    service = resource("Service", name)
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert service["spec"]["type"] == "ClusterIP"
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]


def test_every_pod_runs_as_the_image_user() -> None:
    uid = next(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN" and "useradd" in rest)
    assert "--uid 10001" in uid
    for name in ("orders-worker", "orders-portal", "orders-webhooks", "orders-codec-server"):
        security = deployment(name)["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001


# --- Temporal: connection, autoscaling, Helm chart, Cloud -----------------------------------------------------------


def test_keda_scales_the_worker_on_the_task_queue_it_polls() -> None:
    scaled = resource("ScaledObject", "orders-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "orders-worker"
    assert scaled["minReplicaCount"] >= 1
    assert scaled["maxReplicaCount"] >= scaled["minReplicaCount"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "temporal"
    meta = trigger["metadata"]
    config = config_map("orders-config", ORDERS / "config.yaml")
    assert meta["taskQueue"] == (config["ORDERS_TASK_QUEUE"] or TASK_QUEUE)
    connection = config_map("orders-temporal", ORDERS / "temporal-connection.yaml")
    assert meta["endpoint"] == connection["TEMPORAL_ADDRESS"]
    assert meta["namespace"] == connection["TEMPORAL_NAMESPACE"]
    assert int(meta["targetQueueSize"]) >= 1
    assert 0 <= int(meta["activationTargetQueueSize"]) <= int(meta["targetQueueSize"])
    comment = (ORDERS / "autoscaling.yaml").read_text()
    assert "README" in comment and "Benchmarks" in comment and "targetQueueSize" in comment


def test_the_worker_connects_where_the_helm_chart_puts_temporal() -> None:
    connection = config_map("orders-temporal", ORDERS / "temporal-connection.yaml")
    values = yaml.safe_load(HELM_VALUES.read_text())
    namespaces = values["server"]["config"]["namespaces"]
    assert namespaces["create"] is True
    assert [ns["name"] for ns in namespaces["namespace"]] == [connection["TEMPORAL_NAMESPACE"]]
    # Release "temporal" in namespace "temporal": the chart's frontend Service.
    assert connection["TEMPORAL_ADDRESS"] == "temporal-frontend.temporal.svc.cluster.local:7233"
    loaded = ClientConfig.load_client_connect_config(disable_file=True, override_env_vars=connection)
    assert loaded["target_host"] == connection["TEMPORAL_ADDRESS"]
    assert loaded["namespace"] == connection["TEMPORAL_NAMESPACE"]
    job = resource("Job", "orders-search-attributes")
    job_env = {entry["name"]: entry["value"] for entry in container(job["spec"])["env"]}
    assert job_env["NAMESPACE"] == connection["TEMPORAL_NAMESPACE"]
    twd = resource("TemporalWorkerDeployment", "orders-worker")["spec"]
    assert twd["workerOptions"]["temporalNamespace"] == connection["TEMPORAL_NAMESPACE"]
    tconn = resource("TemporalConnection", twd["workerOptions"]["connection"])
    assert tconn["spec"]["hostPort"] == connection["TEMPORAL_ADDRESS"]


def test_helm_values_use_external_postgresql_and_keep_orders_as_long_as_the_portal_shows_them() -> None:
    values = yaml.safe_load(HELM_VALUES.read_text())
    persistence = values["server"]["config"]["persistence"]
    for store in ("default", "visibility"):
        assert persistence[store]["driver"] == "sql"
        assert persistence[store]["sql"]["driver"] == "postgres12"
        assert persistence[store]["sql"]["existingSecret"]
    for bundled in ("cassandra", "mysql", "postgresql", "elasticsearch"):
        assert values[bundled]["enabled"] is False, bundled
    retention = values["server"]["config"]["namespaces"]["namespace"][0]["retention"]
    assert retention == f"{Settings().closed_order_visible.days}d"
    web_env = {entry["name"]: entry["value"] for entry in values["web"]["additionalEnv"]}
    assert web_env["TEMPORAL_CODEC_ENDPOINT"].startswith("https://")
    assert values["web"]["ingress"]["enabled"] is False


def test_helm_chart_runs_the_server_of_the_compose_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    values = yaml.safe_load(HELM_VALUES.read_text())
    assert compose["temporal"]["image"] == f"temporalio/server:{values['server']['image']['tag']}"
    assert compose["temporal-ui"]["image"] == f"temporalio/ui:{values['web']['image']['tag']}"
    job = resource("Job", "orders-search-attributes")
    assert container(job["spec"])["image"] == compose["temporal-setup"]["image"]


def test_the_cloud_connection_replaces_the_self_hosted_one() -> None:
    cloud = config_map("orders-temporal", K8S / "cloud" / "temporal-connection.yaml")
    profile = ClientConfigProfile.load(disable_file=True, override_env_vars=cloud)
    assert profile.address is not None and profile.address.endswith(".tmprl.cloud:7233")
    assert profile.tls is not None and isinstance(profile.tls, ClientConfigTLS)
    assert profile.tls.client_cert == Path(cloud["TEMPORAL_TLS_CLIENT_CERT_PATH"])
    assert profile.tls.client_private_key == Path(cloud["TEMPORAL_TLS_CLIENT_KEY_PATH"])
    mounts = {mount["name"]: mount["mountPath"] for mount in container(worker_spec())["volumeMounts"]}
    for variable in ("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH"):
        assert Path(cloud[variable]).parent == Path(mounts["temporal-tls"]), variable
    volumes = {volume["name"]: volume for volume in worker_spec()["template"]["spec"]["volumes"]}
    assert volumes["temporal-tls"]["secret"] == {
        "secretName": "orders-temporal-tls",
        "optional": True,
        "defaultMode": 0o440,
    }
    keys = {Path(cloud[v]).name for v in ("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH")}
    assert keys == {"tls.crt", "tls.key"}, "the keys `kubectl create secret tls` writes"
    api_key = next(entry for entry in container(worker_spec())["env"] if entry["name"] == "TEMPORAL_API_KEY")
    assert api_key["valueFrom"]["secretKeyRef"] == {
        "name": "orders-temporal-auth",
        "key": "TEMPORAL_API_KEY",
        "optional": True,
    }


# --- network policies -----------------------------------------------------------------------------------------------


def test_the_codec_server_and_the_ui_admit_only_the_authenticating_proxy() -> None:
    proxy = {"orders.example.com/auth-proxy": "true"}
    codec = resource("NetworkPolicy", "orders-codec-server")["spec"]
    assert codec["podSelector"]["matchLabels"] == deployment("orders-codec-server")["spec"]["selector"]["matchLabels"]
    (rule,) = codec["ingress"]
    assert [peer["podSelector"]["matchLabels"] for peer in rule["from"]] == [proxy]
    assert [port["port"] for port in rule["ports"]] == [
        named_port(container(deployment("orders-codec-server")["spec"]), "http")
    ]
    # Out, only to the key store's PostgreSQL (each order's own key) and DNS to find it.
    key_store, dns = codec["egress"]
    assert [peer["podSelector"]["matchLabels"] for peer in key_store["to"]] == [
        {"orders.example.com/key-store": "true"}
    ]
    assert [port["port"] for port in key_store["ports"]] == [5432]
    assert "to" not in dns and {port["port"] for port in dns["ports"]} == {53}
    assert "Egress" in codec["policyTypes"]
    ui = resource("NetworkPolicy", "temporal-ui-internal")["spec"]
    assert ui["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "temporal",
        "app.kubernetes.io/component": "web",
    }
    (rule,) = ui["ingress"]
    assert [peer["podSelector"]["matchLabels"] for peer in rule["from"]] == [proxy]


# --- the search-attribute Job runs for real -------------------------------------------------------------------------


def job_script() -> str:
    script: str = config_map("orders-search-attributes", K8S / "temporal" / "search-attributes-job.yaml")["register.sh"]
    return script


def test_the_job_registers_exactly_the_workflow_search_attributes() -> None:
    registered = re.findall(r"^register (\w+) (\w+)$", job_script(), re.MULTILINE)
    args = search.dev_server_args()
    expected = [tuple(args[i + 1].split("=")) for i in range(0, len(args), 2)]
    assert registered == expected
    job = resource("Job", "orders-search-attributes")
    assert container(job["spec"])["command"] == ["/bin/sh", "/scripts/register.sh"]


async def test_the_job_script_registers_the_attributes_on_a_real_server(dev_env: WorkflowEnvironment) -> None:
    cli = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    job = resource("Job", "orders-search-attributes")
    namespace = f"k8s-job-{uuid.uuid4().hex[:8]}"
    env = {
        **{entry["name"]: entry["value"] for entry in container(job["spec"])["env"]},
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "NAMESPACE": namespace,
        "PATH": f"{Path(cli).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    for _ in range(2):  # and again: a Job may run twice
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", job_script(), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, out.decode()
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    for key in search.ALL_KEYS:
        assert listed.custom_attributes.get(key.name) == int(key.indexed_value_type), key.name


def test_the_job_script_is_valid_shell() -> None:
    checked = subprocess.run(["/bin/sh", "-n"], input=job_script(), text=True, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr
