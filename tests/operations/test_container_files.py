"""The container files agree with each other and with the settings they configure.

Dockerfile, .dockerignore, compose.yml and .env.example cannot be run here (no container
engine), so these tests read them and check what the code expects of them: every variable
they set is a real setting and parses, secrets are never literal, and what the image copies
is what the application needs.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from core.settings import PROJECT_ROOT, AppEnv, Settings
from graph.cli import build_parser

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
COMPOSE_FILE = PROJECT_ROOT / "compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"

BASE_IMAGE = "python:3.13-slim"
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)
SECRET_SETTINGS = frozenset(
    name.upper()
    for name, field in Settings.model_fields.items()
    if field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)
)
COMPOSE_ONLY_VARIABLES = frozenset(
    {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "APP_PORT"}
)
SECRET_NAME = re.compile(r"(^|_)(SECRET|PASSWORD|TOKEN|KEY)$")  # names that hold a secret value
# What the image must contain for `python -m graph.cli serve|migrate` to work.
RUNTIME_SOURCES = frozenset(
    {
        "graph",
        "db",
        "auth",
        "core",
        "migrations",
        "alembic.ini",
        "pyproject.toml",
        "schema.graphql",
        "frontend",
    }
)
PYTHON_ENV = frozenset({"PATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"})
# Stand-ins for the variables compose.yml requires, used to interpolate it.
DUMMY_SECRETS = {
    "POSTGRES_PASSWORD": "pg-password-for-tests",
    "JWT_SECRET": "j" * 48,
    "AUDIT_HMAC_KEY": "h" * 48,
}


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its arguments as written (continuations joined)."""

    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON-array arguments (ENTRYPOINT/CMD/HEALTHCHECK CMD), or fail."""
        value = json.loads(self.args)
        assert isinstance(value, list), self.args
        assert all(isinstance(item, str) for item in value), self.args
        return value


def dockerfile_instructions() -> list[Instruction]:
    """The Dockerfile as instructions, without comments, continuation lines joined."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comment lines are dropped even inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def stages() -> list[list[Instruction]]:
    """The build stages, each starting with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in dockerfile_instructions():
        if instruction.keyword == "FROM":
            result.append([])
        assert result, f"{instruction.keyword} before the first FROM"
        result[-1].append(instruction)
    return result


def final_stage() -> list[Instruction]:
    return stages()[-1]


def only(stage: list[Instruction], keyword: str) -> Instruction:
    matches = [instruction for instruction in stage if instruction.keyword == keyword]
    assert len(matches) == 1, f"expected exactly one {keyword}, found {len(matches)}"
    return matches[0]


def env_of(stage: list[Instruction]) -> dict[str, str]:
    """The variables the stage's ENV instructions set (`ENV A=1 B="x y"` form)."""
    values: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword != "ENV":
            continue
        for token in shlex.split(instruction.args):
            name, equals, value = token.partition("=")
            assert equals, f"use the ENV NAME=value form: {instruction.args!r}"
            values[name] = value
    return values


def copy_sources(stage: list[Instruction]) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY in the stage that copies from the build context."""
    copies = []
    for instruction in stage:
        if instruction.keyword != "COPY":
            continue
        tokens = shlex.split(instruction.args)
        if any(token.startswith("--from=") for token in tokens):
            continue
        paths = [token for token in tokens if not token.startswith("--")]
        copies.append((paths[:-1], paths[-1]))
    return copies


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"compose.yml has no service {name!r}"
    definition = services[name]
    assert isinstance(definition, dict)
    return definition


def environment(definition: dict[str, Any]) -> dict[str, str]:
    """A service's `environment:` as a mapping, whichever of the two forms it uses."""
    raw = definition.get("environment", {})
    if isinstance(raw, list):
        pairs = (item.partition("=") for item in raw)
        return {name: value for name, _, value in pairs}
    assert isinstance(raw, dict)
    for name, value in raw.items():
        assert isinstance(value, str), f"quote {name}'s value so YAML keeps it a string"
    return dict(raw)


_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>[^}]*))?\})"
)


class MissingVariable(LookupError):
    """A `${NAME:?message}` reference whose variable is unset or empty."""


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${...} interpolation (the subset compose.yml may use; nesting not supported)."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        value = variables.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise MissingVariable(f"{name}: {arg}")
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return "" if value is None else arg
        return value or ""

    assert "${" not in _REFERENCE.sub("", text), f"unsupported interpolation in {text!r}"
    return _REFERENCE.sub(substitute, text)


def referenced_variables(text: str) -> set[str]:
    return {match["name"] for match in _REFERENCE.finditer(text) if match["name"]}


@dataclass(frozen=True)
class EnvEntry:
    name: str
    value: str
    commented: bool
    line: int


_ASSIGNMENT = re.compile(r"^(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def env_example() -> list[EnvEntry]:
    """The assignments in .env.example; `# NAME=value` lines document settings left unset."""
    entries = []
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        match = _ASSIGNMENT.match(line)
        if match:
            entries.append(EnvEntry(match["name"], match["value"], bool(match["comment"]), number))
    return entries


def settings_from_environment(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], *, env_file: Path | None = None
) -> Settings:
    """Settings as the application reads them from exactly these variables (and env_file)."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=env_file)  # type: ignore[call-arg]


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` (or a folder above it) out of the build context."""
    parts = path.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        regex = re.escape(body).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        regex = re.sub(r"\\\[(.*?)\\\]", lambda m: "[" + m[1].replace("\\", "") + "]", regex)
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# --------------------------------------------------------------------------- settings names


def test_settings_are_read_from_variables_named_after_their_fields() -> None:
    # The other tests compare variable names with field names; that holds only while there
    # is no prefix, no alias and no case sensitivity.
    assert Settings.model_config.get("env_prefix", "") == ""
    assert not Settings.model_config.get("case_sensitive", False)
    for name, field in Settings.model_fields.items():
        assert field.alias is None, name
        assert field.validation_alias is None, name


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_on_the_pinned_base_image() -> None:
    froms = [stage[0].args.split() for stage in stages()]
    assert len(froms) == 2
    assert [words[0] for words in froms] == [BASE_IMAGE, BASE_IMAGE]
    assert [word.lower() for word in froms[0][1:]] == ["as", "builder"]
    copies_from_builder = [
        shlex.split(instruction.args)
        for instruction in final_stage()
        if instruction.keyword == "COPY" and "--from=builder" in instruction.args
    ]
    assert copies_from_builder == [["--from=builder", "/opt/venv", "/opt/venv"]]


def test_builder_installs_only_the_lock_file_into_the_venv() -> None:
    builder = stages()[0]
    lock = "/tmp/requirements.lock"  # noqa: S108 - a path inside the build stage
    assert copy_sources(builder) == [(["requirements.lock"], lock)]
    runs = [instruction.args for instruction in builder if instruction.keyword == "RUN"]
    assert any("python -m venv /opt/venv" in run for run in runs)
    installs = [run for run in runs if "pip install" in run]
    assert len(installs) == 1
    assert "-r /tmp/requirements.lock" in installs[0]
    assert "--no-cache-dir" in installs[0]
    assert env_of(builder)["PATH"].startswith("/opt/venv/bin:")
    # The lock file is copied before anything is installed, for layer caching.
    keywords = [instruction.keyword for instruction in builder]
    assert keywords.index("COPY") < next(
        index for index, instruction in enumerate(builder) if "pip install" in instruction.args
    )


def test_final_stage_environment() -> None:
    env = env_of(final_stage())
    assert env["PATH"] == "/opt/venv/bin:$PATH"
    assert env["PYTHONPATH"] == "/app"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert {name: env[name] for name in ("APP_ENV", "HOST", "PORT", "LOG_FORMAT")} == {
        "APP_ENV": "production",
        "HOST": "0.0.0.0",  # noqa: S104 - the container must listen on its interface
        "PORT": "8000",
        "LOG_FORMAT": "json",
    }


def test_dockerfile_sets_only_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_of(final_stage())
    settings_env = {name: value for name, value in env.items() if name not in PYTHON_ENV}
    assert set(settings_env) <= SETTING_NAMES
    settings = settings_from_environment(
        monkeypatch,
        {
            **settings_env,
            "JWT_SECRET": DUMMY_SECRETS["JWT_SECRET"],
            "AUDIT_HMAC_KEY": DUMMY_SECRETS["AUDIT_HMAC_KEY"],
        },
    )
    assert settings.app_env is AppEnv.PRODUCTION
    assert settings.host == "0.0.0.0"  # noqa: S104
    assert settings.port == 8000
    assert settings.json_logs
    assert not settings.should_migrate_on_start
    assert not settings.graphiql


def test_image_runs_as_a_fixed_non_root_user() -> None:
    stage = final_stage()
    user = only(stage, "USER")
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit(), "use a numeric uid so runAsNonRoot-style checks can verify it"
    assert int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # Nothing after USER runs as root, and the user is created with that uid and no shell.
    assert stage.index(user) > max(
        index for index, instruction in enumerate(stage) if instruction.keyword == "RUN"
    )
    created = " ".join(instruction.args for instruction in stage if instruction.keyword == "RUN")
    assert re.search(rf"useradd\b[^&]*--uid {uid}\b", created)
    assert re.search(r"useradd\b[^&]*--shell /usr/sbin/nologin", created)


def test_image_entrypoint_runs_the_cli() -> None:
    stage = final_stage()
    assert only(stage, "ENTRYPOINT").exec_form() == ["python", "-m", "graph.cli"]
    command = only(stage, "CMD").exec_form()
    assert command == ["serve"]
    build_parser().parse_args(command)  # a real subcommand
    assert only(stage, "EXPOSE").args == "8000"
    assert only(stage, "STOPSIGNAL").args == "SIGTERM"
    assert only(stage, "WORKDIR").args == "/app"
    # `python -m graph.cli` does nothing unless the module runs main() itself.
    cli = (PROJECT_ROOT / "graph" / "cli.py").read_text(encoding="utf-8")
    assert re.search(r'^if __name__ == "__main__":.*\n\s+sys\.exit\(main\(\)\)', cli, re.M)


def test_image_has_oci_labels() -> None:
    labels = " ".join(i.args for i in final_stage() if i.keyword == "LABEL")
    for key in ("title", "description", "version"):
        assert f"org.opencontainers.image.{key}=" in labels


async def test_healthcheck_probes_the_liveness_route_with_python() -> None:
    healthcheck = only(final_stage(), "HEALTHCHECK")
    options, _, command = healthcheck.args.partition(" CMD ")
    assert options.startswith("--")
    probe = json.loads(command)
    assert probe[:2] == ["python", "-c"]
    assert "urllib.request.urlopen(" in probe[2]
    assert "'http://127.0.0.1:'" in probe[2]
    assert "'/health/live'" in probe[2]
    compile(probe[2], "<healthcheck>", "exec")
    assert "/health/live" in await route_paths()


async def route_paths() -> set[str]:
    from graph.app import create_app

    app = create_app(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            app_env=AppEnv.TEST,
            database_url="sqlite+aiosqlite:///:memory:",
            jwt_secret=DUMMY_SECRETS["JWT_SECRET"],
            log_format="json",
        )
    )
    try:
        return {getattr(route, "path", "") for route in app.routes}
    finally:
        await app.state.database.dispose()


def test_image_copies_the_runtime_sources_into_app() -> None:
    copies = copy_sources(final_stage())
    copied: set[str] = set()
    for sources, destination in copies:
        assert destination.startswith("./") or destination.startswith("/app")
        for source in sources:
            name = source.rstrip("/")
            copied.add(name)
            assert (PROJECT_ROOT / name).exists(), f"COPY {source}: not in the repository"
            if len(sources) == 1 and (PROJECT_ROOT / name).is_dir():
                assert destination.rstrip("/") in (f"./{name}", f"/app/{name}")
    assert copied == RUNTIME_SOURCES
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in packages} <= copied


# --------------------------------------------------------------------------- .dockerignore


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = dockerignore_patterns()
    needed = ["requirements.lock", *sorted(RUNTIME_SOURCES), "graph/cli.py"]
    needed += ["frontend/graphiql/dist/index.html", "frontend/graphiql/dist/assets/graphiql.js"]
    needed += [
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / "migrations").rglob("*.py")
        if "__pycache__" not in path.parts
    ]
    needed += [
        str(path.relative_to(PROJECT_ROOT))
        for folder in ("js", "css", "vendor")
        for path in (PROJECT_ROOT / "frontend" / folder).rglob("*")
        if path.is_file()
    ]
    needed.append("frontend/index.html")
    assert [path for path in needed if is_ignored(path, patterns)] == []


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".env",
        ".env.local",
        "var/ledgerql.db",
        "var/dev-jwt-secret",
        "tests/conftest.py",
        "bench/run.py",
        "graph/__pycache__/app.cpython-313.pyc",
        "scripts/graphql-http-audit/node_modules/x/index.js",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/CACHEDIR.TAG",
        ".pytest_cache/README.md",
        "ledgerql.egg-info/PKG-INFO",
        "local.db",
    ],
)
def test_dockerignore_excludes(path: str) -> None:
    assert is_ignored(path, dockerignore_patterns())


# --------------------------------------------------------------------------- compose.yml


def test_compose_defines_the_three_services() -> None:
    data = compose()
    assert "version" not in data
    assert {"postgres", "migrate", "app"} <= set(data["services"])


def test_postgres_has_a_healthcheck_and_a_named_volume() -> None:
    postgres = service("postgres")
    assert postgres["image"] == "postgres:17-alpine"
    test = postgres["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert "pg_isready" in " ".join(test[1:])
    volumes = postgres["volumes"]
    assert len(volumes) == 1
    source, target = volumes[0].split(":")[:2]
    assert target == "/var/lib/postgresql/data"
    assert source in (compose().get("volumes") or {})
    assert "ports" not in postgres
    assert set(environment(postgres)) == {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"}


def test_migrate_runs_once_after_postgres_is_healthy() -> None:
    migrate = service("migrate")
    assert migrate["build"] == "."
    assert migrate["command"] == ["migrate"]
    build_parser().parse_args(migrate["command"])
    assert migrate["restart"] == "no"  # the string: unquoted `no` would be YAML false
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_app_waits_for_a_successful_migration() -> None:
    app = service("app")
    assert app["build"] == "."
    build_parser().parse_args(app.get("command", ["serve"]))
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert app["restart"] == "unless-stopped"
    assert app["ports"] == ["${APP_PORT:-8000}:8000"]


def test_app_healthcheck_probes_the_liveness_route() -> None:
    test = service("app")["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "urllib.request.urlopen('http://127.0.0.1:8000/health/live'" in test[3]
    compile(test[3], "<healthcheck>", "exec")


def test_app_is_hardened() -> None:
    app = service("app")
    assert app["read_only"] is True
    assert "/tmp" in app["tmpfs"]  # noqa: S108
    assert "no-new-privileges:true" in app["security_opt"]
    assert app["cap_drop"] == ["ALL"]
    assert app["stop_grace_period"] == "30s"


@pytest.mark.parametrize("name", ["app", "migrate"])
def test_optional_env_file(name: str) -> None:
    assert service(name)["env_file"] == [{"path": ".env", "required": False}]


@pytest.mark.parametrize("name", ["app", "migrate"])
def test_service_variables_are_settings(name: str) -> None:
    unknown = set(environment(service(name))) - SETTING_NAMES
    assert unknown == set(), f"{name} sets variables that no setting reads: {unknown}"


@pytest.mark.parametrize("name", ["app", "migrate"])
def test_service_environment_parses_as_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        key: interpolate(value, DUMMY_SECRETS) for key, value in environment(service(name)).items()
    }
    settings = settings_from_environment(monkeypatch, env)
    assert settings.app_env is AppEnv.PRODUCTION
    assert settings.database_url == (
        f"postgresql+asyncpg://ledgerql:{DUMMY_SECRETS['POSTGRES_PASSWORD']}@postgres:5432/ledgerql"
    )
    assert settings.signing_secret() == DUMMY_SECRETS["JWT_SECRET"]
    assert settings.audit_keys() == (DUMMY_SECRETS["AUDIT_HMAC_KEY"].encode(), [])
    assert not settings.should_migrate_on_start
    if name == "app":
        # Set explicitly so a HOST/PORT meant for local runs in .env cannot override them.
        assert env["HOST"] == "0.0.0.0"  # noqa: S104
        assert env["PORT"] == "8000"
        assert settings.json_logs


@pytest.mark.parametrize("missing", sorted(DUMMY_SECRETS))
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    variables = {name: value for name, value in DUMMY_SECRETS.items() if name != missing}
    raw = COMPOSE_FILE.read_text(encoding="utf-8")
    with pytest.raises(MissingVariable, match=missing):
        interpolate(raw, variables)
    with pytest.raises(MissingVariable, match=missing):
        interpolate(raw, {**variables, missing: ""})
    interpolate(raw, DUMMY_SECRETS)


def test_no_literal_secret_in_compose() -> None:
    for name, definition in compose()["services"].items():
        for key, value in environment(definition).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", value), f"{name}: {key}={value}"
    for name in ("app", "migrate"):
        env = environment(service(name))
        assert env["JWT_SECRET"].startswith("${JWT_SECRET:?")
        assert env["AUDIT_HMAC_KEY"].startswith("${AUDIT_HMAC_KEY:?")
        url = re.fullmatch(
            r"postgresql\+asyncpg://(?P<user>\$\{[^}]+\}):(?P<password>\$\{[^}]+\})"
            r"@postgres:5432/(?P<database>\$\{[^}]+\})",
            env["DATABASE_URL"],
        )
        assert url, env["DATABASE_URL"]
        assert url["user"].startswith("${POSTGRES_USER:-"), url["user"]
        assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]+\}", url["password"]), url[0]
        assert url["database"].startswith("${POSTGRES_DB:-"), url["database"]
    assert environment(service("postgres"))["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_compose_variables_are_documented() -> None:
    referenced = referenced_variables(COMPOSE_FILE.read_text(encoding="utf-8"))
    documented = {entry.name for entry in env_example()}
    assert referenced - documented == set()
    # The compose-only defaults agree with the values .env.example shows.
    example = {entry.name: entry.value for entry in env_example()}
    raw = COMPOSE_FILE.read_text(encoding="utf-8")
    for name in sorted(COMPOSE_ONLY_VARIABLES):
        for default in re.findall(rf"\$\{{{name}:-([^}}]*)\}}", raw):
            assert example[name] == default, name


# --------------------------------------------------------------------------- .env.example


def test_env_example_documents_exactly_the_settings_and_compose_variables() -> None:
    names = [entry.name for entry in env_example()]
    assert len(names) == len(set(names)), "a variable is listed twice"
    assert SETTING_NAMES - set(names) == set(), "settings missing from .env.example"
    assert set(names) - SETTING_NAMES - COMPOSE_ONLY_VARIABLES == set(), "not a setting"
    assert set(names) >= COMPOSE_ONLY_VARIABLES


def test_env_example_explains_each_variable() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for entry in env_example():
        above = lines[entry.line - 2] if entry.line >= 2 else ""
        assert above.startswith("# "), f"line {entry.line}: {entry.name} has no comment above"
        assert not _ASSIGNMENT.match(above), f"line {entry.line}: {entry.name} has no comment"


def test_env_example_leaves_secrets_empty() -> None:
    secrets = SECRET_SETTINGS | {"POSTGRES_PASSWORD"}
    assert {"JWT_SECRET", "METRICS_TOKEN"} <= secrets
    for entry in env_example():
        if entry.name in secrets or SECRET_NAME.search(entry.name):
            assert entry.value == "", f"{entry.name} must have no value in .env.example"


def test_env_example_shows_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Copied to .env unchanged, it must configure exactly the defaults.
    defaults = settings_from_environment(monkeypatch, {})
    from_example = settings_from_environment(monkeypatch, {}, env_file=ENV_EXAMPLE)
    for name in Settings.model_fields:
        value = getattr(from_example, name)
        if name.upper() in SECRET_SETTINGS:
            secrets = value if isinstance(value, list) else [value]
            assert all(item is None or item.get_secret_value() == "" for item in secrets), name
        else:
            assert value == getattr(defaults, name), name
    # The commented-out examples are valid values when uncommented.
    active = [entry for entry in env_example() if not entry.commented]
    examples = [entry for entry in env_example() if entry.commented and entry.value]
    assert examples, "no commented-out examples found"
    lines = [f"{entry.name}={entry.value}" for entry in active + examples]
    uncommented = tmp_path / "uncommented.env"
    uncommented.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = settings_from_environment(monkeypatch, {}, env_file=uncommented)
    for entry in examples:
        if entry.name in SETTING_NAMES:
            assert getattr(settings, entry.name.lower()) is not None, entry.name


def test_env_example_leaves_unset_only_what_has_no_literal_default() -> None:
    # An optional setting listed with an empty value would fail validation or, for a token,
    # mean "required and empty"; so those stay commented out, and only those.
    for entry in env_example():
        if entry.name not in SETTING_NAMES:
            assert not entry.commented, entry.name
            continue
        field = Settings.model_fields[entry.name.lower()]
        unset_by_default = field.default is None or entry.name == "DEV_SECRET_FILE"
        if entry.name == "APP_ENV":
            # Unset on purpose: compose.yml's ${APP_ENV:-production} must not read `local`.
            assert entry.commented
            assert entry.value == AppEnv.LOCAL.value == field.default
        elif entry.name == "JWT_SECRET":
            assert not entry.commented  # empty means "generate one locally"
        else:
            assert entry.commented == unset_by_default, entry.name
