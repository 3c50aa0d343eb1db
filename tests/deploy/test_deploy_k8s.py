"""deploy/k8s: the kustomize base and the example overlay, rendered by tests/deploy/_kustomize.py.

Standard objects are validated with the PyPI package kubernetes-validate (its strict
schemas reject unknown fields); the KEDA ScaledObject is checked field by field here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from ._kustomize import KustomizeError, build, containers, is_builtin, object_key, pod_spec
from ._paths import ACCOUNTS_CONF, K8S, K8S_BASE, K8S_OVERLAY

Obj = dict[str, Any]

# An older and the newest Kubernetes whose schemas kubernetes-validate 1.37 ships.
K8S_VERSIONS = ("1.33", "1.37")
KEDA_TRIGGER_KEYS = {
    "natsServerMonitoringEndpoint",
    "account",
    "stream",
    "consumer",
    "lagThreshold",
}
BUILDS = {"base": K8S_BASE, "overlay": K8S_OVERLAY}


@pytest.fixture(scope="module", params=sorted(BUILDS))
def rendered(request: pytest.FixtureRequest) -> list[Obj]:
    return build(BUILDS[request.param])


@pytest.fixture(scope="module")
def overlay() -> list[Obj]:
    return build(K8S_OVERLAY)


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[Obj], kind: str, name: str) -> Obj:
    (obj,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return obj


def worker_queue(deployment: Obj) -> str | None:
    """The --queue of a worker Deployment, None for other roles."""
    args = containers(deployment)[0].get("args", [])
    if args[:1] != ["worker"]:
        return None
    return args[args.index("--queue") + 1] if "--queue" in args else "default"


def env_of(container: Obj) -> dict[str, Obj]:
    return {item["name"]: item for item in container.get("env", [])}


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pod_labels(workload: Obj) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def selects(selector_owner: Obj, workload: Obj) -> bool:
    """Whether a Service's or PodDisruptionBudget's selector picks the workload's pods."""
    selector = selector_owner["spec"]["selector"]
    return labels_match(selector.get("matchLabels", selector), pod_labels(workload))


# --- rendering ---------------------------------------------------------------------------


def test_the_loader_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(KustomizeError, match="namePrefix"):
        build(tmp_path)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_the_loader_agrees_with_kubectl_kustomize(name: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the loader is checked against it where it is")
    done = subprocess.run(
        [kubectl, "kustomize", str(BUILDS[name])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    theirs = {object_key(obj): obj for obj in yaml.safe_load_all(done.stdout) if obj}
    ours = {object_key(obj): obj for obj in build(BUILDS[name])}
    assert ours.keys() == theirs.keys()
    for key, obj in ours.items():
        assert obj == theirs[key], key


# --- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_standard_objects_match_the_kubernetes_schema(rendered: list[Obj], version: str) -> None:
    for obj in rendered:
        if obj["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{object_key(obj)}: {path}: {exc.message}")


def test_the_schema_check_catches_mistakes(rendered: list[Obj]) -> None:
    deployment = of_kind(rendered, "Deployment")[0]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_only_known_custom_resources(rendered: list[Obj]) -> None:
    custom = {(o["apiVersion"], o["kind"]) for o in rendered if not is_builtin(o)}
    assert custom == {("keda.sh/v1alpha1", "ScaledObject")}


# --- KEDA ------------------------------------------------------------------------------------


def test_scaled_objects_scale_a_worker_by_its_consumer(rendered: list[Obj]) -> None:
    scaled_objects = of_kind(rendered, "ScaledObject")
    assert scaled_objects
    for scaled in scaled_objects:
        spec = scaled["spec"]
        target = named(rendered, "Deployment", spec["scaleTargetRef"]["name"])
        assert target["metadata"].get("namespace") == scaled["metadata"].get("namespace")
        queue = worker_queue(target)
        assert queue is not None, "KEDA scales workers only"

        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], "never scale to zero"
        trigger = spec["triggers"][0]
        assert trigger["type"] == "nats-jetstream"
        metadata = trigger["metadata"]
        assert KEDA_TRIGGER_KEYS <= set(metadata), KEDA_TRIGGER_KEYS - set(metadata)
        assert all(isinstance(value, str) for value in metadata.values()), "KEDA wants strings"
        assert metadata["account"] == "$G"
        assert metadata["stream"] == "QHANA_TASKS"
        assert metadata["consumer"] == f"tasks-{queue}"
        assert int(metadata["lagThreshold"]) > 0
        assert re.fullmatch(r"[\w.-]+:8222", metadata["natsServerMonitoringEndpoint"])


def test_every_worker_deployment_has_a_scaled_object_and_a_pdb(rendered: list[Obj]) -> None:
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(rendered, "ScaledObject")}
    for deployment in of_kind(rendered, "Deployment"):
        if worker_queue(deployment) is not None:
            assert deployment["metadata"]["name"] in scaled
            assert covered_by_pdb(rendered, deployment)


def test_keda_reads_the_nats_cluster_the_roles_use(rendered: list[Obj]) -> None:
    nats_url = named(rendered, "ConfigMap", "qhana-settings")["data"]["QHANA_NATS_URL"]
    client_host = re.match(r"nats://([^:/]+)", nats_url).group(1)
    release, namespace = client_host.split(".")[:2]
    for scaled in of_kind(rendered, "ScaledObject"):
        endpoint = scaled["spec"]["triggers"][0]["metadata"]["natsServerMonitoringEndpoint"]
        assert endpoint.startswith(f"{release}-headless.{namespace}.svc"), endpoint


# --- references between objects ----------------------------------------------------------


def test_config_and_secret_references_resolve(rendered: list[Obj]) -> None:
    config_maps = {o["metadata"]["name"]: o for o in of_kind(rendered, "ConfigMap")}
    secrets = {o["metadata"]["name"]: o for o in of_kind(rendered, "Secret")}
    for workload in rendered:
        for container in containers(workload):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = secrets[ref["name"]]
                    keys = {*secret.get("stringData", {}), *secret.get("data", {})}
                    # optional refs too: a missing key is a typo here, not a choice
                    assert ref["key"] in keys, f"{object_key(workload)}: {ref['key']}"


def test_selectors_find_their_pods(rendered: list[Obj]) -> None:
    deployments = of_kind(rendered, "Deployment")
    for deployment in deployments:
        assert labels_match(deployment["spec"]["selector"]["matchLabels"], pod_labels(deployment))
    for service in of_kind(rendered, "Service"):
        assert any(selects(service, d) for d in deployments), object_key(service)
    for budget in of_kind(rendered, "PodDisruptionBudget"):
        assert len([d for d in deployments if selects(budget, d)]) == 1, object_key(budget)


def test_service_accounts_exist(rendered: list[Obj]) -> None:
    accounts = {o["metadata"]["name"] for o in of_kind(rendered, "ServiceAccount")}
    for workload in rendered:
        spec = pod_spec(workload)
        if spec is not None:
            assert spec["serviceAccountName"] in accounts


def covered_by_pdb(objects: list[Obj], deployment: Obj) -> bool:
    return any(selects(budget, deployment) for budget in of_kind(objects, "PodDisruptionBudget"))


# --- roles ---------------------------------------------------------------------------------


def test_the_edge_serves_5005_with_probes(rendered: list[Obj]) -> None:
    edge = named(rendered, "Deployment", "qhana-edge")
    (container,) = containers(edge)
    assert container["args"] == ["edge"]
    assert {"name": "http", "containerPort": 5005, "protocol": "TCP"} in container["ports"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = named(rendered, "Service", "qhana-edge")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["port"] == 5005
    assert covered_by_pdb(rendered, edge)


def test_roles_and_the_init_job(rendered: list[Obj]) -> None:
    deployments = of_kind(rendered, "Deployment")
    roles = {d["metadata"]["name"]: containers(d)[0]["args"] for d in deployments}
    assert roles["qhana-registry"] == ["registry"]
    assert roles["qhana-recorder"] == ["recorder"]
    assert roles["qhana-worker-default"] == ["worker", "--queue", "default"]
    job = named(rendered, "Job", "qhana-init")
    script = containers(job)[0]["args"]
    assert script[:2] == ["sh", "-ec"]
    assert "qhana streams apply" in script[2] and "qhana db upgrade" in script[2]
    settings = named(rendered, "ConfigMap", "qhana-settings")["data"]
    assert settings["QHANA_NATS__REPLICAS"] == "3"  # init and workers create JetStream objects


def test_every_container_has_requests_limits_and_no_privileges(rendered: list[Obj]) -> None:
    for workload in rendered:
        spec = pod_spec(workload)
        if spec is None:
            continue
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for container in containers(workload):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), object_key(workload)
            assert "memory" in resources["limits"], object_key(workload)
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]


def test_workers_have_nats_only(rendered: list[Obj]) -> None:
    settings = named(rendered, "ConfigMap", "qhana-settings")["data"]
    assert not any("DATABASE" in key for key in settings)
    for deployment in of_kind(rendered, "Deployment"):
        queue = worker_queue(deployment)
        if queue is None:
            continue
        env = env_of(containers(deployment)[0])
        assert "QHANA_DATABASE_URL" not in env
        assert env["QHANA_RUNNER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert env["QHANA_NATS__USER"]["value"] == f"qhana-worker-{queue}"


def test_queues_users_and_consumers_agree(rendered: list[Obj]) -> None:
    """Each worker queue: a consumer created by init, a NATS user allowed to pull from it."""
    accounts = ACCOUNTS_CONF.read_text(encoding="utf-8")
    init_script = containers(named(rendered, "Job", "qhana-init"))[0]["args"][2]
    declared = re.findall(r"--queue (\w+)", init_script.split("&&")[0])
    for deployment in of_kind(rendered, "Deployment"):
        queue = worker_queue(deployment)
        if queue is None:
            continue
        assert queue in declared, f"the init Job creates no consumer tasks-{queue}"
        assert f"{{ user: qhana-worker-{queue}," in accounts
        assert f'"$JS.API.CONSUMER.MSG.NEXT.QHANA_TASKS.tasks-{queue}"' in accounts
    for workload in of_kind(rendered, "Deployment") + of_kind(rendered, "Job"):
        user = env_of(containers(workload)[0])["QHANA_NATS__USER"]["value"]
        assert f"{{ user: {user}," in accounts


# --- base and overlay ------------------------------------------------------------------------


def test_the_base_is_namespace_agnostic_and_image_neutral() -> None:
    for obj in build(K8S_BASE):
        assert "namespace" not in obj["metadata"], object_key(obj)
        for container in containers(obj):
            assert container["image"] == "qhana"


def test_the_overlay_sets_namespace_image_replicas_and_a_second_queue(overlay: list[Obj]) -> None:
    (namespace,) = of_kind(overlay, "Namespace")
    assert namespace["metadata"]["name"] == "qhana"
    for obj in overlay:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "qhana", object_key(obj)
        for container in containers(obj):
            assert container["image"] == "registry.example.org/qhana/qhana:0.1.0"
    assert named(overlay, "Deployment", "qhana-edge")["spec"]["replicas"] == 3
    queues = {worker_queue(d) for d in of_kind(overlay, "Deployment")} - {None}
    assert queues == {"default", "quantum"}
    scaled = named(overlay, "ScaledObject", "qhana-worker-default")["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (2, 20)
    assert scaled["triggers"][0]["type"] == "nats-jetstream"  # the patch kept the trigger


def test_nats_values_describe_a_three_node_jetstream_cluster() -> None:
    values = yaml.safe_load((K8S / "nats-values.yaml").read_text(encoding="utf-8"))
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    assert values["config"]["jetstream"]["enabled"] is True
    assert values["config"]["jetstream"]["fileStore"]["pvc"]["size"]
    assert values["config"]["monitor"]["port"] == 8222
