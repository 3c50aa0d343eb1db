"""deploy/compose/compose.yaml: the compose specification's schema, then our own rules.

The schema is the compose-spec JSON schema vendored by the PyPI package check-jsonschema
(check_jsonschema/builtin_schemas/vendor/compose-spec.json, Apache-2.0 like compose-spec).
"""

from __future__ import annotations

import copy
import re
from graphlib import CycleError, TopologicalSorter
from typing import Any

import jsonschema
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from ._natsserver import check_config
from ._paths import COMPOSE_DIR, COMPOSE_FILE, NATS_CONF, REPO

Compose = dict[str, Any]

QHANA_ROLES = {"edge", "worker", "registry", "recorder", "streams", "db", "up"}
LONG_RUNNING_RESTART = {"always", "unless-stopped", "on-failure"}
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Resolve ${VAR:-default} as compose does, with an empty environment."""
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, str):
        return INTERPOLATION.sub(lambda m: m.group(2) or "", value)
    return value


@pytest.fixture(scope="module")
def raw() -> Compose:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def compose(raw: Compose) -> Compose:
    return interpolate(raw)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = get_builtin_schema("vendor.compose-spec")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def services_of(compose: Compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def qhana_services(compose: Compose) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services_of(compose).items() if "build" in s}


def nats_services(compose: Compose) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services_of(compose).items() if s["image"].startswith("nats:")}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else command


def worker_queues(compose: Compose) -> dict[str, str]:
    """Service name -> queue of every worker service."""
    queues = {}
    for name, service in qhana_services(compose).items():
        command = command_of(service)
        if command[:1] == ["worker"]:
            queues[name] = (
                command[command.index("--queue") + 1] if "--queue" in command else "default"
            )
    return queues


# --- schema -----------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(
    raw: Compose, compose: Compose, validator: jsonschema.Draft202012Validator
) -> None:
    for document in (raw, compose):
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "edge", "depends_on", "init", "condition"), "service_done"),
        (("services", "edge", "restart"), ["always"]),
        (("services", "edge", "ports"), "5005:5005"),
        (("services", "edge", "helthcheck"), {"disable": True}),
    ],
)
def test_the_schema_catches_mistakes(
    compose: Compose, validator: jsonschema.Draft202012Validator, path: tuple[str, ...], value: Any
) -> None:
    broken = copy.deepcopy(compose)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert not validator.is_valid(broken)


# --- our rules ------------------------------------------------------------------------------


def test_depends_on_targets_exist_and_form_no_cycle(compose: Compose) -> None:
    services = services_of(compose)
    graph = {name: set(service.get("depends_on", {})) for name, service in services.items()}
    for name, targets in graph.items():
        assert targets <= set(services), f"{name} depends on unknown {targets - set(services)}"
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"depends_on cycle: {exc.args[1]}")


def test_depends_on_conditions_fit_their_targets(compose: Compose) -> None:
    services = services_of(compose)
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            condition = spec["condition"]
            other = services[target]
            if condition == "service_healthy":
                check = other.get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), (
                    f"{name} waits for {target} to be healthy, which has no health check"
                )
            elif condition == "service_completed_successfully":
                assert other.get("restart", "no") == "no", f"{target} must be a one-shot"
                assert "ports" not in other
            else:
                pytest.fail(f"{name} -> {target}: use an explicit condition, not {condition}")


def test_every_qhana_service_runs_the_one_image(compose: Compose) -> None:
    services = qhana_services(compose)
    assert set(services) >= {"init", "edge", "registry", "recorder"}
    images = {service["image"] for service in services.values()}
    assert len(images) == 1, images
    for name, service in services.items():
        build = service["build"]
        assert (COMPOSE_DIR / build["context"]).resolve() == REPO, name
        assert build["dockerfile"] == "deploy/Containerfile", name
        assert (REPO / build["dockerfile"]).is_file()


def test_commands_are_qhana_roles(compose: Compose) -> None:
    for name, service in qhana_services(compose).items():
        command = command_of(service)
        if command[0] == "sh":
            assert command[1] == "-ec", f"{name}: a shell command must stop at the first error"
            steps = [step.strip() for step in command[2].split("&&")]
            assert all(step.split()[0] == "qhana" for step in steps), name
            assert all(step.split()[1] in QHANA_ROLES for step in steps), name
        else:
            assert command[0] in QHANA_ROLES, f"{name}: {command}"


def test_init_applies_streams_with_three_replicas_and_upgrades_the_db(compose: Compose) -> None:
    init = services_of(compose)["init"]
    script = command_of(init)[2]
    assert "qhana streams apply" in script
    assert "qhana db upgrade" in script
    assert init["environment"]["QHANA_NATS__REPLICAS"] == "3"
    waits_for = {t for t, s in init["depends_on"].items() if s["condition"] == "service_healthy"}
    assert waits_for == {*nats_services(compose), "postgres"}


def test_roles_start_after_init(compose: Compose) -> None:
    for name, service in qhana_services(compose).items():
        if name == "init":
            continue
        condition = service["depends_on"]["init"]["condition"]
        assert condition == "service_completed_successfully", name
        assert service["restart"] in LONG_RUNNING_RESTART, name


def test_edge_has_two_replicas_on_a_port_range_and_checks_readiness(compose: Compose) -> None:
    edge = services_of(compose)["edge"]
    assert edge["deploy"]["replicas"] == 2
    assert edge["ports"] == ["5005-5006:5005"]
    assert "container_name" not in edge
    assert edge["healthcheck"]["test"][-1] == "/readyz"
    assert edge["environment"]["QHANA_PUBLIC_URL"].startswith("http://localhost:5005")


def test_workers_serve_two_queues_and_never_see_the_database(compose: Compose) -> None:
    queues = worker_queues(compose)
    assert set(queues.values()) == {"default", "quantum"}
    for name in queues:
        environment = services_of(compose)[name]["environment"]
        assert not [key for key in environment if "DATABASE" in key], name
    init_script = command_of(services_of(compose)["init"])[2]
    declared = re.findall(r"--queue (\w+)", init_script.split("&&")[0])
    assert set(queues.values()) <= set(declared), "init must create a consumer per queue"


def test_every_role_creates_jetstream_objects_with_three_replicas(compose: Compose) -> None:
    """Workers too: each creates or updates its queue's consumer at start."""
    for name, service in qhana_services(compose).items():
        assert service["environment"]["QHANA_NATS__REPLICAS"] == "3", name


def test_sql_roles_get_the_database_url(compose: Compose) -> None:
    for name in ("init", "edge", "registry", "recorder"):
        url = services_of(compose)[name]["environment"]["QHANA_DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://qhana:"), name
        assert url.endswith("@postgres:5432/qhana"), name


def test_three_nats_nodes_each_with_its_own_volume(compose: Compose) -> None:
    nodes = nats_services(compose)
    assert len(nodes) == 3
    data_volumes = set()
    for name, node in nodes.items():
        command = command_of(node)
        assert command[command.index("--name") + 1] == name
        assert command[command.index("--config") + 1] == "/etc/nats/nats.conf"
        mounts = {}  # target -> source
        for volume in node["volumes"]:
            source, target = volume.split(":")[:2]
            mounts[target] = source
        assert (COMPOSE_DIR / mounts["/etc/nats/nats.conf"]).resolve() == NATS_CONF
        data_volumes.add(mounts["/data"])
        assert node["healthcheck"]["test"][-1].endswith("/healthz")
    assert len(data_volumes) == 3
    assert data_volumes <= set(compose["volumes"])


def test_nats_routes_and_client_urls_name_the_nodes(compose: Compose) -> None:
    nodes = set(nats_services(compose))
    routes = set(re.findall(r"nats-route://([\w-]+):6222", NATS_CONF.read_text(encoding="utf-8")))
    assert routes == nodes
    for name, service in qhana_services(compose).items():
        urls = service["environment"]["QHANA_NATS_URL"].split(",")
        assert {re.match(r"nats://([\w-]+):4222$", url).group(1) for url in urls} == nodes, name


def test_postgres_16_with_a_volume_and_a_health_check(compose: Compose) -> None:
    postgres = services_of(compose)["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert postgres["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert "pg_isready" in postgres["healthcheck"]["test"][-1]
    assert "pgdata" in compose["volumes"]


def test_every_named_volume_is_declared(compose: Compose) -> None:
    for name, service in services_of(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name}: volume {source} not declared"


def test_nats_conf_is_valid_for_nats_server() -> None:
    done = check_config(NATS_CONF, "--name", "nats-1")
    assert done.returncode == 0, done.stderr


def test_nats_stop_grace_period_covers_lame_duck_mode(compose: Compose) -> None:
    text = NATS_CONF.read_text(encoding="utf-8")
    lame_duck_s = int(re.search(r"^lame_duck_duration: (\d+)s$", text, re.M).group(1))
    for name, node in nats_services(compose).items():
        assert node["stop_signal"] == "SIGUSR2", name
        assert int(node["stop_grace_period"].rstrip("s")) > lame_duck_s, name


def test_interpolation_defaults_build_a_local_image(raw: Compose) -> None:
    images = {service.get("image") for service in raw["services"].values() if "build" in service}
    assert images == {"${QHANA_IMAGE:-qhana:local}"}
