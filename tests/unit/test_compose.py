"""docker-compose.yml and the Dockerfile agree with the code they run.

No Docker engine is needed: the compose file is read as YAML, each Casemesh
process's environment is fed through the real ``casemesh`` CLI (with the server
start stubbed out) to get the ``Settings`` it would run with, and the health
check one-liners are run against a local HTTP server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from casemesh import cli, processes
from casemesh.settings import PROCESS_NAMES, SERVICE_NAMES, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

INFRASTRUCTURE = ("mongo", "rabbitmq", "minio", "minio-init", "mailpit")
ONE_SHOT = {"minio-init"}

# What each process must wait for, and how.
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"
NEEDS: dict[str, dict[str, str]] = {
    "gateway": dict.fromkeys(SERVICE_NAMES, HEALTHY),
    "cases": {"mongo": HEALTHY, "rabbitmq": HEALTHY},
    "notes": {"mongo": HEALTHY, "rabbitmq": HEALTHY},
    "documents": {"mongo": HEALTHY, "rabbitmq": HEALTHY, "minio": HEALTHY, "minio-init": COMPLETED},
    "notifications": {"mongo": HEALTHY, "rabbitmq": HEALTHY, "mailpit": HEALTHY},
}
REAL_APP_FACTORY = processes.app_factory
PROBE = {name: "/readyz" for name in SERVICE_NAMES} | {"gateway": "/healthz"}


# --- helpers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    """A service's ``environment`` as a mapping (compose allows a map or a list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short form: no condition, means service_started
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def as_argv(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else list(value)


def run_cli(monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str]):
    """Run ``casemesh *argv`` under ``env`` as far as building the app; return what it built."""
    for key in list(os.environ):
        if key.upper().startswith("CASEMESH_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    seen = SimpleNamespace()

    def fake_factory(name):
        real = REAL_APP_FACTORY(name)  # the module really exists and has create_app
        assert callable(real)
        seen.name = name

        def build(settings):
            seen.settings = settings
            return "app"

        return build

    def fake_run_app(app, *, host, port, **_):
        seen.app, seen.host, seen.port = app, host, port

    monkeypatch.setattr(processes, "app_factory", fake_factory)
    monkeypatch.setattr(cli, "web", SimpleNamespace(run_app=fake_run_app))
    monkeypatch.setattr(cli, "configure_logging", lambda process, level: None)
    cli.main(argv)
    assert seen.app == "app", "the CLI never started the server"
    return seen


def process_settings(monkeypatch: pytest.MonkeyPatch, services: dict, name: str) -> Settings:
    seen = run_cli(monkeypatch, as_argv(services[name]["command"]), environment(services[name]))
    assert seen.name == name
    assert (seen.host, seen.port) == (seen.settings.host, seen.settings.port)
    return seen.settings


def healthcheck_url(service: dict) -> str:
    test = service["healthcheck"]["test"]
    assert isinstance(test, list)
    assert test[:3] == ["CMD", "python", "-c"], test
    urls = re.findall(r"http://[^'\"\s]+", test[3])
    assert len(urls) == 1, test[3]
    return urls[0]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile_instructions():
        if instruction in {"ENV", "ARG"}:
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def exec_form(instruction: str) -> list[str]:
    found = [args for name, args in dockerfile_instructions() if name == instruction]
    assert len(found) == 1, f"expected exactly one {instruction}"
    value = json.loads(found[0])  # exec form: a JSON array
    assert isinstance(value, list)
    return value


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# --- (a, b) the file and its services ------------------------------------------


def test_compose_file_parses_and_names_the_expected_services(services):
    assert set(services) == {*INFRASTRUCTURE, *PROCESS_NAMES}


def test_only_the_gateway_publishes_a_host_port(services):
    for name in PROCESS_NAMES:
        published = services[name].get("ports", [])
        if name == "gateway":
            assert published == ["8080:8080"]
        else:
            assert published == [], f"{name} should only be reachable inside the compose network"


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart", "no") == "no"
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no healthcheck"


def test_dependencies_exist_and_can_report_their_condition(services):
    for name, service in services.items():
        for dep, condition in depends_on(service).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if condition == HEALTHY:
                assert "healthcheck" in services[dep], f"{dep} cannot become healthy"
            if condition == COMPLETED:
                assert dep in ONE_SHOT, f"{dep} never completes"


# --- (c) the Casemesh processes -------------------------------------------------


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_process_runs_from_the_one_image(services, name):
    service = services[name]
    build = service["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    assert service["image"] == "casemesh:latest"
    assert as_argv(service["command"]) == ["serve", name]
    assert service["restart"] == "unless-stopped"
    assert "entrypoint" not in service, "the image's ENTRYPOINT is the casemesh CLI"


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_process_waits_for_what_it_needs(services, name):
    assert depends_on(services[name]) == NEEDS[name]


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_process_healthcheck_probes_its_own_port(services, name, monkeypatch):
    url = urlsplit(healthcheck_url(services[name]))
    settings = process_settings(monkeypatch, services, name)
    assert url.hostname == "127.0.0.1"
    assert url.port == settings.port
    assert url.path == PROBE[name]


class _Probe(BaseHTTPRequestHandler):
    ready = True

    def do_GET(self):
        ok = self.ready and self.path in {"/healthz", "/readyz"}
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def probe_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Probe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("name", ["gateway", "cases"])  # the two distinct one-liners
def test_healthcheck_one_liner_passes_on_200_and_fails_on_503(services, name, probe_server):
    code = services[name]["healthcheck"]["test"][3]
    port = probe_server.server_address[1]
    local = code.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    assert local != code

    def run() -> int:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["HTTP_PROXY"] = "http://127.0.0.1:9"  # must be ignored
        return subprocess.run(
            [sys.executable, "-c", local], env=env, capture_output=True
        ).returncode

    _Probe.ready = True
    assert run() == 0
    _Probe.ready = False
    try:
        assert run() != 0
    finally:
        _Probe.ready = True


# --- (d) every setting each process needs ---------------------------------------


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_process_environment_is_all_known_settings(services, name):
    env = environment(services[name])
    fields = set(Settings.model_fields)
    for key, value in env.items():
        assert key.startswith("CASEMESH_"), key
        assert key.removeprefix("CASEMESH_").lower() in fields, f"{name}: unknown setting {key}"
        assert isinstance(value, str), f"{name}: quote {key} so YAML keeps it a string"


@pytest.mark.parametrize("name", PROCESS_NAMES)
def test_process_listens_on_all_interfaces_in_production_mode(services, name, monkeypatch):
    settings = process_settings(monkeypatch, services, name)
    assert settings.mode == "production"
    assert settings.host == "0.0.0.0"
    assert settings.port == 8080
    assert settings.log_level.upper() in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_service_reaches_mongo_and_rabbitmq(services, name, monkeypatch):
    settings = process_settings(monkeypatch, services, name)
    deps = depends_on(services[name])

    mongo = urlsplit(settings.mongo_url)
    assert mongo.scheme == "mongodb"
    assert (mongo.hostname, mongo.port or 27017) == ("mongo", 27017)
    assert mongo.hostname in deps
    replica_set = parse_qs(mongo.query).get("replicaSet")
    assert replica_set == [_mongo_replica_set(services)]

    amqp = urlsplit(settings.amqp_url)
    assert amqp.scheme == "amqp"
    assert (amqp.hostname, amqp.port or 5672) == ("rabbitmq", 5672)
    assert amqp.hostname in deps
    rabbit_env = environment(services["rabbitmq"])
    expected = (
        rabbit_env.get("RABBITMQ_DEFAULT_USER", "guest"),
        rabbit_env.get("RABBITMQ_DEFAULT_PASS", "guest"),
    )
    assert (amqp.username, amqp.password) == expected


def test_documents_reaches_minio(services, monkeypatch):
    settings = process_settings(monkeypatch, services, "documents")
    assert settings.s3_endpoint == "minio:9000"
    assert settings.s3_endpoint.split(":")[0] in depends_on(services["documents"])
    assert settings.s3_secure is False
    assert as_argv(services["minio"]["command"])[:2] == ["server", "/data"]
    # minio-init creates exactly the bucket documents uses.
    script = " ".join(as_argv(services["minio-init"]["command"]))
    created = re.findall(r"mc mb --ignore-existing \w+/([\w.-]+)", script)
    assert created == [settings.s3_bucket] == ["casemesh"]
    assert "http://minio:9000" in script


def test_notifications_reaches_mailpit(services, monkeypatch):
    settings = process_settings(monkeypatch, services, "notifications")
    assert settings.smtp_host == "mailpit"
    assert settings.smtp_host in depends_on(services["notifications"])
    assert settings.smtp_port == 1025
    assert any(str(p).endswith(":1025") for p in services["mailpit"].get("ports", []))
    assert "@" in settings.mail_from
    assert settings.mail_from != Settings.model_fields["mail_from"].default


def test_gateway_routes_to_the_compose_services(services, monkeypatch):
    settings = process_settings(monkeypatch, services, "gateway")
    for name in SERVICE_NAMES:
        url = urlsplit(settings.service_url(name))
        assert url.scheme == "http"
        assert url.hostname == name
        assert name in services
        upstream = process_settings(monkeypatch, services, name)
        assert url.port == upstream.port


def test_process_settings_come_from_the_compose_file(services, monkeypatch):
    # Guards the helper itself: with no environment, defaults (127.0.0.1) would show.
    plain = {**services["cases"], "environment": {}}
    seen = run_cli(monkeypatch, ["serve", "cases"], environment(plain))
    assert urlsplit(seen.settings.mongo_url).hostname == "127.0.0.1"
    assert process_settings(monkeypatch, services, "cases").mongo_url != seen.settings.mongo_url


# --- (e) MinIO credentials ---------------------------------------------------------


def test_documents_uses_the_minio_root_credentials(services, monkeypatch):
    settings = process_settings(monkeypatch, services, "documents")
    minio = environment(services["minio"])
    assert settings.s3_access_key == minio["MINIO_ROOT_USER"]
    assert settings.s3_secret_key.get_secret_value() == minio["MINIO_ROOT_PASSWORD"]
    assert len(minio["MINIO_ROOT_PASSWORD"]) >= 8, "MinIO refuses passwords under 8 characters"
    init = environment(services["minio-init"])
    assert init["MINIO_ROOT_USER"] == minio["MINIO_ROOT_USER"]
    assert init["MINIO_ROOT_PASSWORD"] == minio["MINIO_ROOT_PASSWORD"]


# --- (f) MongoDB replica set ---------------------------------------------------------


def _mongo_replica_set(services) -> str:
    argv = as_argv(services["mongo"]["command"])
    assert "--replSet" in argv
    return argv[argv.index("--replSet") + 1]


def test_mongo_runs_as_a_replica_set_reachable_from_other_containers(services):
    argv = as_argv(services["mongo"]["command"])
    assert _mongo_replica_set(services) == "rs0"
    assert "--bind_ip_all" in argv
    assert any(str(v).endswith(":/data/db") for v in services["mongo"]["volumes"])


def test_mongo_healthcheck_initiates_the_replica_set_and_waits_for_primary(services, monkeypatch):
    test = services["mongo"]["healthcheck"]["test"]
    assert test[:4] == ["CMD", "mongosh", "--quiet", "--eval"]
    script = test[4]
    initiate = re.search(r"rs\.initiate\(\s*\{\s*_id:\s*'([^']+)'.*host:\s*'([^']+)'", script, re.S)
    assert initiate, script
    assert initiate.group(1) == _mongo_replica_set(services)
    # The member is named so the services' mongo_url host reaches it.
    mongo = urlsplit(process_settings(monkeypatch, services, "cases").mongo_url)
    assert initiate.group(2) == f"{mongo.hostname}:{mongo.port or 27017}"
    # Initiates only when not yet initiated, and is healthy only on the primary.
    assert "NotYetInitialized" in script
    assert script.index("rs.status()") < script.index("rs.initiate(")
    assert re.search(r"quit\(\s*db\.hello\(\)\.isWritablePrimary\s*\?\s*0\s*:\s*1\s*\)", script)
    assert "$" not in script, "compose would try to interpolate it"


# --- (g) docker compose config ----------------------------------------------------------


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        probe = subprocess.run([standalone, "version"], capture_output=True, text=True)
        if probe.returncode == 0 and "v2" in probe.stdout.lower():
            return [standalone]
    return None


def test_docker_compose_config_validates_the_file(tmp_path):
    command = _compose_command()
    if command is None:
        pytest.skip("the `docker compose` plugin (Docker Compose v2) is not installed")
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path)}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- (h) the Dockerfile ----------------------------------------------------------------


def test_dockerfile_entrypoint_is_the_casemesh_console_script():
    scripts = pyproject()["project"]["scripts"]
    entrypoint = exec_form("ENTRYPOINT")
    assert len(entrypoint) == 1
    executable = PurePosixPath(entrypoint[0])
    assert scripts.get(executable.name) == "casemesh.cli:main"
    assert cli.main.__module__ == "casemesh.cli"
    if executable.is_absolute():
        venv = dockerfile_env().get("UV_PROJECT_ENVIRONMENT") or "/app/.venv"
        assert executable.parent == PurePosixPath(venv) / "bin"
    else:
        path = dockerfile_env()["PATH"].split(":")
        assert any(p.endswith("/.venv/bin") for p in path)


def test_dockerfile_default_command_is_a_valid_cli_call(monkeypatch):
    seen = run_cli(monkeypatch, exec_form("CMD"), {})
    assert seen.name in PROCESS_NAMES
    assert exec_form("CMD")[0] == "serve"


def test_every_compose_command_is_a_valid_cli_call(services, monkeypatch):
    for name in PROCESS_NAMES:
        seen = run_cli(monkeypatch, as_argv(services[name]["command"]), environment(services[name]))
        assert seen.name == name


def test_dockerfile_base_user_and_port():
    instructions = dockerfile_instructions()
    base = [args for name, args in instructions if name == "FROM"]
    assert base == ["python:3.11-slim"]
    python = re.match(r"python:(\d+\.\d+)", base[0]).group(1)
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(f"{python}.0")
    users = [args for name, args in instructions if name == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert [args for name, args in instructions if name == "EXPOSE"] == ["8080"]


def test_dockerfile_installs_locked_dependencies_before_the_code():
    steps = [f"{name} {args}" for name, args in dockerfile_instructions()]

    def index(pattern: str) -> int:
        hits = [i for i, step in enumerate(steps) if re.search(pattern, step)]
        assert len(hits) == 1, f"expected one step matching {pattern!r}, got {hits}"
        return hits[0]

    install_uv = index(r"^RUN pip install [\"']?uv\b")
    copy_lock = index(r"^COPY pyproject\.toml uv\.lock ")
    deps = index(r"^RUN uv sync --frozen --no-dev --no-install-project\b")
    project = index(r"^RUN uv sync --frozen --no-dev(?! --no-install-project)")
    code = [i for i, s in enumerate(steps) if s.startswith("COPY ") and i not in {copy_lock}]
    assert install_uv < copy_lock < deps < min(code) <= max(code) < project


def test_dockerfile_copies_everything_the_package_build_needs():
    meta = pyproject()
    needed = {
        *meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"],
        meta["project"]["readme"],
    }
    needed |= {"pyproject.toml", "uv.lock"}
    copied: set[str] = set()
    for name, args in dockerfile_instructions():
        if name == "COPY":
            *sources, _dest = shlex.split(args)
            copied |= {s.rstrip("/") for s in sources if not s.startswith("--")}
    assert needed <= copied, needed - copied
    for source in copied:
        assert (ROOT / source).exists(), source


def test_dockerignore_keeps_local_state_and_tests_out_but_not_the_sources():
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".casemesh", ".git", "tests"} <= patterns
    copied = {"pyproject.toml", "uv.lock", "README.md", "casemesh", "services", "gateway"}
    assert not copied & patterns
    assert not any(p in {"*", "**", "."} for p in patterns)


def test_every_process_shares_one_internal_secret_and_finds_the_others(services, monkeypatch):
    secrets = set()
    for name in PROCESS_NAMES:
        settings = process_settings(monkeypatch, services, name)
        secrets.add(settings.internal_secret.get_secret_value())
        assert settings.cases_url == "http://cases:8080"
        assert settings.notes_url == "http://notes:8080"
    assert len(secrets) == 1 and "" not in secrets


def test_cases_bootstraps_an_admin_with_a_configured_password(services, monkeypatch):
    settings = process_settings(monkeypatch, services, "cases")
    assert settings.admin_password.get_secret_value()
    assert "CASEMESH_ADMIN_PASSWORD" not in environment(services["notes"])
