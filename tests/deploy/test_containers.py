"""Dockerfile, docker-compose.yml and .dockerignore, checked without Docker.

This machine has no Docker engine, so nothing here builds or starts a container; what can
go wrong without one being noticed is checked instead: both files parse; every command
(CMD, HEALTHCHECK, compose `command` and health checks) runs a module or file the project
has, and the project's processes run exactly as devstack runs them; every COPY source is
in the build context (.dockerignore) and the image gets everything its commands import;
every environment variable named is one the project (or Python itself) reads, read from
the source; `depends_on` names services; the ports are devstack's.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from devstack import services
from devstack.apps import APPS, planned
from devstack.cli import PREFERRED_PORTS
from devstack.dispatcher import discover
from lib.config import ENV_VARS, Settings, load_settings
from matcher.realtime.__main__ import DEFAULT_PORT as REALTIME_PORT

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERIGNORE = ROOT / ".dockerignore"
# The compose services that run the project's own code (the others are images' servers).
APP_SERVICES = ("upstash-proxy", "matcher", "realtime", "api")
ANY_HOST = "0.0.0.0"  # inside a container: reachable from the other containers
PYTHON = "python"  # the image's interpreter, where devstack runs sys.executable


# --- parsing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    stage: str  # the stage's `AS` name, or its index for an unnamed one
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with their line continuations joined; comments dropped."""
    instructions: list[Instruction] = []
    stage = "global"
    pending = ""
    stages = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # also inside a continuation, as Docker allows
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical, pending = pending + stripped, ""
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            name = re.search(r"\s+AS\s+(\S+)\s*$", args, re.IGNORECASE)
            stage = name.group(1) if name else str(stages)
            stages += 1
        instructions.append(Instruction(stage, keyword, args.strip()))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


def exec_form(args: str) -> list[str]:
    """A CMD/ENTRYPOINT/HEALTHCHECK command; the exec (JSON) form, which needs no shell."""
    assert args.startswith("["), f"not the exec form: {args}"
    argv = json.loads(args)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), args
    return argv


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())
FINAL_STAGE = next(i.stage for i in reversed(INSTRUCTIONS) if i.keyword == "FROM")
COMPOSE_DOC: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE_DOC["services"]


def final(keyword: str) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.stage == FINAL_STAGE and i.keyword == keyword]


def healthcheck_command(instruction: Instruction) -> list[str]:
    _, found, command = instruction.args.partition("CMD ")
    assert found, instruction.args
    return exec_form(command.strip())


def compose_health(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] == "CMD", test  # no shell in between
    return [str(arg) for arg in test[1:]]


def interpolated(value: str) -> str:
    """A compose value with `${NAME:-default}` as it is when NAME is not set."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


def app_environment(service: str) -> dict[str, str]:
    environment = SERVICES[service]["environment"]
    assert isinstance(environment, dict), "environment as a mapping"
    return {str(k): interpolated(str(v)) for k, v in environment.items()}


def published(service: str) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port."""
    ports = []
    for entry in SERVICES[service].get("ports", []):
        address, host, container = str(entry).split(":")
        ports.append((address, int(host), int(container)))
    return ports


def commands() -> Iterator[tuple[str, list[str]]]:
    """Every command a container runs: (where, argv)."""
    for instruction in final("CMD") + final("ENTRYPOINT"):
        yield f"Dockerfile {instruction.keyword}", exec_form(instruction.args)
    for instruction in final("HEALTHCHECK"):
        yield "Dockerfile HEALTHCHECK", healthcheck_command(instruction)
    for name, service in SERVICES.items():
        if "command" in service:
            command = service["command"]
            assert isinstance(command, list), f"{name}: command in the exec (list) form"
            yield f"{name} command", [str(arg) for arg in command]
        if "healthcheck" in service:
            yield f"{name} healthcheck", compose_health(service)


# --- what exists in the project ----------------------------------------------------------


def module_file(name: str) -> Path | None:
    """The project file of module `name` (a package: its __init__ or, for a namespace
    package, its folder), or None when the project has no such module."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return base if base.is_dir() and any(base.glob("*.py")) else None


def main_file(name: str) -> Path | None:
    """What `python -m name` runs from the project."""
    found = module_file(name)
    if found is not None and (found.is_dir() or found.name == "__init__.py"):
        main = (found if found.is_dir() else found.parent) / "__main__.py"
        return main if main.is_file() else None
    return found


def imports(source: str) -> set[tuple[str, str | None]]:
    """(module, name) for each `from module import name`, (module, None) for `import`."""
    found: set[tuple[str, str | None]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {(alias.name, None) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {(node.module, alias.name) for alias in node.names}
    return found


def imported_modules(source: str) -> set[str]:
    """Every module an import may load (a `from` import's name may be a submodule)."""
    names: set[str] = set()
    for module, name in imports(source):
        names |= {module} if name is None else {module, f"{module}.{name}"}
    return names


def defines(file: Path, name: str) -> bool:
    """Whether the module binds `name` at its top level."""
    for node in ast.parse(file.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound = {node.name}
        elif isinstance(node, ast.Assign):
            bound = {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            bound = {node.target.id}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound = {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            continue
        if name in bound:
            return True
    return False


def project_closure(files: list[Path]) -> set[Path]:
    """`files` and every project file they import, transitively."""
    seen: set[Path] = set()
    queue = list(files)
    while queue:
        file = queue.pop()
        if file in seen or not file.is_file():
            continue
        seen.add(file)
        for name in imported_modules(file.read_text()):
            parts = name.split(".")
            # `import a.b.c` also imports a and a.b (their __init__ files run).
            for depth in range(1, len(parts) + 1):
                found = module_file(".".join(parts[:depth]))
                if found is not None and found.is_file():
                    queue.append(found)
    return seen


def dockerignore_rules() -> list[tuple[re.Pattern[str], bool]]:
    """(pattern, re-included?) in file order; the last one that matches decides."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        regex, index = "", 0
        while index < len(pattern):
            if pattern.startswith("**/", index):
                regex, index = regex + "(?:.*/)?", index + 3
            elif pattern.startswith("**", index):
                regex, index = regex + ".*", index + 2
            elif pattern[index] == "*":
                regex, index = regex + "[^/]*", index + 1
            elif pattern[index] == "?":
                regex, index = regex + "[^/]", index + 1
            else:
                regex, index = regex + re.escape(pattern[index]), index + 1
        rules.append((re.compile(regex), include))
    return rules


def in_context(relative: str, rules: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Whether Docker sends this file: a pattern that matches a folder matches its files."""
    parts = relative.strip("/").split("/")
    paths = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
    excluded = False
    for regex, include in rules:
        if any(regex.fullmatch(path) for path in paths):
            excluded = not include
    return not excluded


def project_env_reads() -> set[str]:
    """Every environment variable the project's code reads: lib/config.py's settings, and
    each name looked up in an `environ` / `env` mapping or with getenv in lib/, api/,
    matcher/ and devstack/."""
    names = set(ENV_VARS.values())

    def mapping(node: ast.expr) -> bool:
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
        return "env" in str(name).lower()

    for folder in ("lib", "api", "matcher", "devstack"):
        for file in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text())):
                key: ast.expr | None = None
                if isinstance(node, ast.Subscript) and mapping(node.value):
                    key = node.slice
                elif isinstance(node, ast.Call) and node.args:
                    func = node.func
                    if isinstance(func, ast.Attribute) and (
                        func.attr == "getenv" or (func.attr == "get" and mapping(func.value))
                    ):
                        key = node.args[0]
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    names.add(key.value)
    return names


def interpreter_env_reads() -> set[str]:
    """The variables Python itself reads (`python --help-env`): PYTHONUNBUFFERED, ..."""
    listing = subprocess.run(
        [sys.executable, "--help-env"], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"^(PYTHON[A-Z0-9_]*)", listing, re.MULTILINE))


# --- (1) the files parse -----------------------------------------------------------------


def test_the_dockerfile_and_the_compose_file_parse() -> None:
    assert INSTRUCTIONS[0].keyword in ("ARG", "FROM")
    stages = [i for i in INSTRUCTIONS if i.keyword == "FROM"]
    assert len(stages) == 2, "a stage compiling the core, then the runtime image"
    known = {"ARG", "FROM", "RUN", "WORKDIR", "COPY", "ENV", "USER", "EXPOSE", "HEALTHCHECK",
             "CMD", "ENTRYPOINT", "LABEL"}  # fmt: skip
    assert {i.keyword for i in INSTRUCTIONS} <= known
    assert len(final("CMD")) == 1
    assert final("USER") and final("USER")[-1].args not in ("root", "0"), "not as root"
    assert set(SERVICES) == {"redis", "mongodb", *APP_SERVICES}
    for name, service in SERVICES.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert ("image" in service) != ("build" in service) or name in APP_SERVICES, name
    for name in APP_SERVICES:  # one image, built from this Dockerfile
        assert SERVICES[name]["build"] == ".", name
        assert SERVICES[name]["image"] == SERVICES["matcher"]["image"], name
    assert SERVICES["mongodb"]["image"].startswith("mongo:")  # the official image
    assert SERVICES["redis"]["image"].split(":")[0] in ("valkey/valkey", "redis")
    for name in ("redis", "mongodb"):
        tag = SERVICES[name]["image"].partition(":")[2]
        assert tag and tag != "latest", f"{name}: pin the image's version"


# --- (2) every command runs something that exists ----------------------------------------


def check_python(where: str, argv: list[str]) -> None:
    assert argv[0] == PYTHON, f"{where}: {argv}"
    option = argv[1]
    if option == "-m":
        module = argv[2]
        if module.split(".")[0] in {p.name for p in ROOT.iterdir()}:
            assert main_file(module) is not None, f"{where}: no module {module} in the project"
        else:  # an installed package: it must be importable here (the image installs it)
            assert importlib.util.find_spec(module) is not None, f"{where}: {module}?"
        for arg in argv[3:]:  # a WSGI target such as devstack.dispatcher:app
            if re.fullmatch(r"[a-z_][\w.]*:[a-z_]\w*", arg):
                target, _, attribute = arg.partition(":")
                file = module_file(target)
                assert file is not None and file.is_file(), f"{where}: no module {target}"
                assert defines(file, attribute), f"{where}: {target} has no {attribute}"
    elif option == "-c":
        compile(argv[2], where, "exec")
        for module, name in imports(argv[2]):
            top = module.split(".")[0]
            if not ((ROOT / top).exists() or (ROOT / f"{top}.py").exists()):
                assert importlib.util.find_spec(top) is not None, f"{where}: {module}?"
                continue
            file = module_file(module)
            assert file is not None, f"{where}: no module {module}"
            if name is not None and module_file(f"{module}.{name}") is None:
                assert file.is_file() and defines(file, name), f"{where}: no {module}.{name}"
    else:
        pytest.fail(f"{where}: runs {argv[:3]}, neither -m nor -c")


def test_every_command_names_a_module_or_file_that_exists() -> None:
    checked = 0
    for where, argv in commands():
        service = where.split(" ")[0]
        if service in ("redis", "mongodb"):
            # The server images' own programs: those images provide them.
            assert argv[0] in ("valkey-server", "valkey-cli", "redis-server", "redis-cli",
                               "mongod", "mongosh"), f"{where}: {argv[0]}"  # fmt: skip
            continue
        check_python(where, argv)
        checked += 1
    assert checked >= 2 * len(APP_SERVICES) + 2  # each app's command and health check, CMD
    # The RUN that proves the compiled core imports names a real module as well.
    for instruction in final("RUN"):
        for code in re.findall(r"python -c \"([^\"]+)\"", instruction.args):
            check_python("Dockerfile RUN", [PYTHON, "-c", code])


def test_the_processes_run_as_devstack_runs_them(tmp_path: Path) -> None:
    """Each compose command is devstack's command line for that process, listening on
    every interface (a container's 127.0.0.1 is its own), on the same port."""

    def as_image(argv: tuple[str, ...]) -> list[str]:
        return [PYTHON if arg == sys.executable else arg for arg in argv]

    env = app_environment("upstash-proxy")
    proxy = services.upstash_proxy(8079, env["REDIS_URL"], "token", tmp_path)
    assert SERVICES["upstash-proxy"]["command"] == [*as_image(proxy.argv), "--host", ANY_HOST]

    api = services.api_dispatcher(Settings().api_port, {}, tmp_path)
    local_bind = f"127.0.0.1:{Settings().api_port}"
    expected = [arg.replace(local_bind, f"{ANY_HOST}:{Settings().api_port}") for arg in api.argv]
    assert SERVICES["api"]["command"] == as_image(tuple(expected))

    matcher = next(app for app in planned(Settings()) if app.name == "matcher")
    assert matcher.argv is not None
    matcher_command = [*as_image(matcher.argv), "--host", ANY_HOST]
    assert SERVICES["matcher"]["command"] == matcher_command
    cmd = final("CMD")[0]
    assert exec_form(cmd.args) == matcher_command, "the image's command is the matcher"

    realtime = next(app for app in APPS if app.name == "realtime")
    assert realtime.argv is not None
    filled = tuple(arg.replace("{port}", str(REALTIME_PORT)) for arg in realtime.argv)
    assert SERVICES["realtime"]["command"] == [*as_image(filled), "--host", ANY_HOST]

    # Redis keeps devstack's persistence: the same values for these options.
    local = services.redis_server(6379, tmp_path, tmp_path).argv
    command = [str(arg) for arg in SERVICES["redis"]["command"]]
    for option in ("--appendonly", "--appendfsync", "--save"):
        assert option in command, option
        assert command[command.index(option) + 1] == local[local.index(option) + 1], option


def test_the_core_is_compiled_as_make_core_compiles_it() -> None:
    """The image compiles the modules the Makefile's CORE_SRC names, in a stage of its own,
    and the runtime stage takes its .so files; Python 3.12 as requires-python says."""
    makefile = (ROOT / "Makefile").read_text()
    core_src = re.search(r"^CORE_SRC\s*:=\s*\$\(filter-out ([^,]+),", makefile, re.MULTILINE)
    assert core_src is not None
    left_out = [Path(p).name for p in core_src.group(1).split()]
    mypyc = [i for i in INSTRUCTIONS if i.keyword == "RUN" and "mypyc " in i.args]
    assert len(mypyc) == 1 and mypyc[0].stage != FINAL_STAGE
    for name in left_out:  # the grep -v patterns escape their dots
        assert name in mypyc[0].args.replace("\\", ""), name
    copies = [i.args for i in final("COPY") if i.args.startswith(f"--from={mypyc[0].stage} ")]
    assert any("matcher/core/*.so" in c for c in copies), "the compiled modules"
    assert any(re.search(r"/src/\*\.so ", c) for c in copies), "the shared mypyc library"
    version = next(i.args for i in INSTRUCTIONS if i.keyword == "ARG")
    assert version == "PYTHON_VERSION=3.12"
    froms = [i.args for i in INSTRUCTIONS if i.keyword == "FROM"]
    assert all(f.startswith("python:${PYTHON_VERSION}-") for f in froms), froms
    assert len({f.split()[0] for f in froms}) == 1, "compiled for the Python that runs it"


def test_the_pinned_tools_come_from_requirements_dev() -> None:
    """The image installs gunicorn, mypy and setuptools by grepping requirements-dev.txt:
    each pattern finds exactly one requirement there."""
    lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    patterns = [
        pattern
        for instruction in INSTRUCTIONS
        if instruction.keyword == "RUN"
        for pattern in re.findall(r"grep -Eo '([^']+)' requirements-dev\.txt", instruction.args)
    ]
    assert len(patterns) == 2
    found = [m.group(0) for p in patterns for line in lines if (m := re.match(p, line))]
    names = sorted(re.split(r"[<>=!~ ]", requirement)[0].lower() for requirement in found)
    assert names == ["gunicorn", "mypy", "setuptools"], found


# --- (3) COPY --------------------------------------------------------------------------------


def copy_sources(instruction: Instruction) -> list[str]:
    words = shlex.split(instruction.args)
    return [w for w in words[:-1] if not w.startswith("--")]


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    rules = dockerignore_rules()
    stages = {i.stage for i in INSTRUCTIONS if i.keyword == "FROM"}
    for instruction in (i for i in INSTRUCTIONS if i.keyword == "COPY"):
        source_stage = re.match(r"--from=(\S+)", instruction.args)
        if source_stage:  # from an earlier stage of this Dockerfile
            assert source_stage.group(1) in stages, instruction.args
            continue
        for source in copy_sources(instruction):
            path = ROOT / source
            assert path.exists(), f"COPY {source}: no such file"
            files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
            sent = [f for f in files if in_context(str(f.relative_to(ROOT)), rules)]
            assert sent, f"COPY {source}: .dockerignore leaves it out"
            python = [f for f in files if f.suffix == ".py" and "__pycache__" not in f.parts]
            assert set(python) <= set(sent), f"COPY {source}: sources left out"
    # What must never reach the image, whatever the host has lying around.
    for private in (".env", ".venv/bin/python", ".devstack/credentials.json",
                    "node_modules/vercel/package.json", "matcher/core/book.cpython-312.so",
                    "78fb__mypyc.cpython-312-x86_64-linux-gnu.so", ".git/config",
                    "lib/__pycache__/config.cpython-312.pyc"):  # fmt: skip
        assert not in_context(private, rules), private


def test_pip_installs_only_files_copied_before() -> None:
    """Each `pip install -r FILE` finds FILE, and the files it includes, in the image."""
    copied: set[str] = set()
    for instruction in INSTRUCTIONS:
        if instruction.keyword == "FROM":
            copied = set()
        elif instruction.keyword == "COPY" and not instruction.args.startswith("--from"):
            copied |= {Path(s).name for s in copy_sources(instruction)}
        elif instruction.keyword == "RUN":
            for required in re.findall(r"-r\s+(\S+)", instruction.args):
                pending = [required]
                while pending:
                    name = pending.pop()
                    assert name in copied, f"pip -r {name}: not copied before"
                    text = (ROOT / name).read_text()
                    pending += re.findall(r"^-r\s+(\S+)", text, re.MULTILINE)


def test_the_image_holds_everything_its_commands_import() -> None:
    """The runtime stage copies every top-level part of the project that a command's module
    imports (transitively), and for the API the functions and vercel.json it routes by."""
    copied = {
        Path(source).parts[0]
        for instruction in final("COPY")
        if not instruction.args.startswith("--from")
        for source in copy_sources(instruction)
    }
    starts: list[Path] = []
    for where, argv in commands():
        if argv[0] != PYTHON:
            continue
        if argv[1] == "-m" and (file := main_file(argv[2])) is not None:
            starts.append(file)
        if argv[1] == "-c":
            found = [module_file(name) for name in imported_modules(argv[2])]
            starts += [file for file in found if file is not None and file.is_file()]
        if "devstack.dispatcher:app" in argv:
            starts += [route.file for route in discover(ROOT)]
            assert "vercel.json" in copied, f"{where}: the dispatcher reads vercel.json"
    needed = {file.relative_to(ROOT).parts[0] for file in project_closure(starts)}
    assert {"lib", "matcher", "devstack", "api"} <= needed  # the closure found them
    assert needed <= copied, f"not in the image: {needed - copied}"


# --- (4) environment variables ---------------------------------------------------------------


def test_every_environment_variable_named_is_one_the_project_reads() -> None:
    project = project_env_reads()
    assert {"REDIS_URL", "MONGODB_URI", "UPSTASH_REDIS_REST_TOKEN"} <= project  # sanity
    python = interpreter_env_reads()
    assert "PYTHONUNBUFFERED" in python
    # Dockerfile: ENV names; every $reference is an ARG or ENV of the file.
    declared: set[str] = set()
    for instruction in INSTRUCTIONS:
        if instruction.keyword == "ENV":
            for word in shlex.split(instruction.args):
                name = word.split("=", 1)[0]
                assert name in project | python, f"Dockerfile ENV {name}: nobody reads it"
                declared.add(name)
        elif instruction.keyword == "ARG":
            declared.add(instruction.args.split("=", 1)[0])
        for name in re.findall(r"\$\{?([A-Za-z_]\w*)", instruction.args):
            assert name in declared, f"Dockerfile: ${name} is neither ARG nor ENV"
    # Compose: `environment` keys and every ${NAME} interpolated from the shell.
    text = COMPOSE.read_text()
    named = set(re.findall(r"\$\{([A-Za-z_]\w*)", text))
    for service in SERVICES.values():
        named |= set(service.get("environment", {}))
        for arg in compose_health(service):
            named |= set(re.findall(r"os\.environ\[['\"](\w+)['\"]\]", arg))
    assert named, "the compose file passes settings on"
    assert named <= project, f"named but read by nothing: {named - project}"


def test_the_settings_the_containers_get_are_valid() -> None:
    """lib/config.py accepts the app containers' environment (with nothing set in the
    shell), and its URLs point at the compose services on devstack's ports."""
    for name in APP_SERVICES:
        env = app_environment(name)
        settings = load_settings(env)
        assert settings.shards == 1  # one matcher service: shard 0
        redis_url = urlsplit(settings.need("redis_url"))
        assert (redis_url.hostname, redis_url.port) == ("redis", PREFERRED_PORTS.redis)
        mongodb = urlsplit(settings.need("mongodb_uri"))
        assert (mongodb.hostname, mongodb.port) == ("mongodb", PREFERRED_PORTS.mongodb)
        upstash = urlsplit(settings.need("upstash_redis_rest_url"))
        assert (upstash.hostname, upstash.port) == ("upstash-proxy", PREFERRED_PORTS.upstash)
        assert settings.upstash_redis_rest_token
        # Clients on the host find Socket.IO where the matcher is published.
        assert settings.public_realtime_url == f"http://127.0.0.1:{Settings().matcher_port}"
    assert len({json.dumps(app_environment(n), sort_keys=True) for n in APP_SERVICES}) == 1
    proxy = SERVICES["upstash-proxy"]["command"]
    assert proxy[proxy.index("--redis-url") + 1] == app_environment("matcher")["REDIS_URL"]


# --- (5) depends_on and ports ----------------------------------------------------------------


def test_depends_on_names_services_that_report_health() -> None:
    graph: dict[str, set[str]] = {}
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        targets = set(depends)
        graph[name] = targets
        for target in targets:
            assert target in SERVICES and target != name, f"{name} depends on {target}"
            if isinstance(depends, dict):
                assert depends[target] == {"condition": "service_healthy"}, (name, target)
    # No cycle: a compose file with one never starts.
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {n for n, targets in graph.items() if n not in done and targets <= done}
        assert ready, f"depends_on has a cycle among {set(graph) - done}"
        done |= ready
    assert graph["api"] >= {"upstash-proxy", "mongodb"}
    assert graph["matcher"] >= {"redis", "mongodb"}
    assert graph["upstash-proxy"] >= {"redis"}


def test_the_ports_are_devstacks() -> None:
    settings = Settings()  # the defaults, as `make run` uses them
    expected = {
        "redis": PREFERRED_PORTS.redis,
        "mongodb": PREFERRED_PORTS.mongodb,
        "upstash-proxy": PREFERRED_PORTS.upstash,
        "matcher": settings.matcher_port,
        "realtime": REALTIME_PORT,
        "api": settings.api_port,
    }
    assert set(expected) == set(SERVICES)
    for name, port in expected.items():
        # Published on this machine only, at the same port as inside the container.
        assert published(name) == [("127.0.0.1", port, port)], name
        for url_port in re.findall(r"http://127\.0\.0\.1:(\d+)", " ".join(compose_health(
            SERVICES[name]))):  # fmt: skip
            assert int(url_port) == port, f"{name}: its health check asks port {url_port}"
    # The image's own health check and EXPOSE: the matcher's port.
    (expose,) = final("EXPOSE")
    assert expose.args == str(settings.matcher_port)
    (health,) = final("HEALTHCHECK")
    assert f"127.0.0.1:{settings.matcher_port}/health" in " ".join(healthcheck_command(health))
