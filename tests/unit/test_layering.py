"""Imports point one way (DESIGN.md): the codec knows nothing of plastrond or I/O; nothing
below the daemon imports the broker side or the CLI; the repository client and the models
know nothing of commands or jobs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def imported_modules(package: str) -> dict[str, set[str]]:
    """Absolute names of the modules each file of *package* imports."""
    result: dict[str, set[str]] = {}
    folder = SRC / package.replace(".", "/")
    paths = [folder.with_suffix(".py")] if folder.with_suffix(".py").is_file() else []
    assert paths or folder.is_dir(), f"no package or module {package}"
    for path in paths or folder.rglob("*.py"):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts)
        if module.endswith(".__init__"):
            module = module.removesuffix(".__init__")
            base = module
        else:
            base = module.rpartition(".")[0]
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = base.split(".")
                    anchor = ".".join(parts[: len(parts) - node.level + 1])
                    target = f"{anchor}.{node.module}" if node.module else anchor
                else:
                    target = node.module or ""
                names.add(target)
                names.update(f"{target}.{alias.name}" for alias in node.names)
        result[module] = names
    return result


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for module, names in imported_modules(package).items():
        for name in names:
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{module} imports {name}")
    return sorted(found)


def test_stompframe_is_pure():
    assert offenders("stompframe", ("plastrond", "trio", "socket", "threading", "asyncio")) == []


@pytest.mark.parametrize(
    "package",
    ["plastrond.repository", "plastrond.models", "plastrond.publication", "plastrond.editing"],
)
def test_repository_and_models_know_nothing_above_them(package):
    # (export and imports sit between commands and models: models must not reach up to them)
    forbidden = (
        "plastrond.commands",
        "plastrond.jobs",
        "plastrond.broker",
        "plastrond.daemon",
        "plastrond.cli",
        "plastrond.http",
    )
    assert offenders(package, forbidden) == []


@pytest.mark.parametrize(
    "package",
    [
        "plastrond.commands",
        "plastrond.jobs",
        "plastrond.http",
        "plastrond.broker",
        "plastrond.export",
        "plastrond.imports",
    ],
)
def test_nothing_below_imports_the_daemon_or_the_cli(package):
    forbidden = ("plastrond.daemon", "plastrond.cli", "plastrond.submit")
    if package != "plastrond.broker":
        forbidden += ("plastrond.broker",)
    assert offenders(package, forbidden) == []


def test_the_job_client_uses_the_broker_side_and_nothing_of_the_daemon():
    # `plastrond submit` connects as the daemon does (broker.connection), and knows no runner,
    # store, command or server.
    forbidden = (
        "plastrond.daemon",
        "plastrond.jobs",
        "plastrond.commands",
        "plastrond.http",
        "plastrond.repository",
    )
    assert offenders("plastrond.submit", forbidden) == []
    assert "plastrond.broker.connection" in imported_modules("plastrond.submit")["plastrond.submit"]


#: what commands and their helpers may use of jobs/: the command protocol and the item engine,
#: never the runner, the store or the completions
JOB_TYPES = (
    "plastrond.jobs.items",
    "plastrond.jobs.protocol",
    "plastrond.jobs.request",
    "plastrond.jobs.result",
)


def test_jobs_never_import_commands_or_what_they_use():
    # The runner finds commands in the registry it is given (DESIGN.md).
    forbidden = (
        "plastrond.commands",
        "plastrond.export",
        "plastrond.imports",
        "plastrond.http",
        "plastrond.daemon",
        "plastrond.cli",
        "plastrond.broker",
    )
    assert offenders("plastrond.jobs", forbidden) == []


@pytest.mark.parametrize("package", ["plastrond.export", "plastrond.imports"])
def test_command_helpers_use_only_the_job_types(package):
    # They may raise JobError and read JobRequest, never reach into a command module, the
    # registry, the runner or the store.
    assert offenders(package, ("plastrond.commands",)) == []
    found = [
        line
        for line in offenders(package, ("plastrond.jobs",))
        if not any(line.split(" imports ")[1].startswith(a) for a in JOB_TYPES)
        and not line.split(" imports ")[1].startswith("plastrond.jobs.ids")
    ]
    assert found == []


def test_commands_do_not_import_the_runner_or_store():
    found = [
        line
        for line in offenders("plastrond.commands", ("plastrond.jobs",))
        if not any(line.split(" imports ")[1].startswith(a) for a in JOB_TYPES)
    ]
    assert found == []


def test_the_job_types_stand_alone():
    # The command protocol is plain values: it imports nothing else of jobs/ or above.
    for module, names in imported_modules("plastrond.jobs").items():
        if module not in JOB_TYPES:
            continue
        bad = [
            n
            for n in names
            if n.startswith("plastrond.")
            and not n.startswith(JOB_TYPES)
            and not n.startswith(("plastrond.errors", "plastrond.config", "plastrond.repository"))
        ]
        assert bad == [], module


def test_the_error_root_imports_nothing_of_plastrond():
    assert [n for n in imported_modules("plastrond")["plastrond.errors"] if "plastrond" in n] == []


def test_job_folders_and_durable_writes_sit_below_their_users():
    # The job folder package is used by the import command and the http mode, and the durable
    # writes by it and the message store: neither reaches up to any of them.
    above = (
        "plastrond.commands",
        "plastrond.imports",
        "plastrond.http",
        "plastrond.broker",
        "plastrond.daemon",
        "plastrond.cli",
        "plastrond.repository",
    )
    jobs_allowed = ("plastrond.jobs.ids",)
    found = [
        line
        for line in offenders("plastrond.jobfolders", (*above, "plastrond.jobs"))
        if not any(line.split(" imports ")[1].startswith(a) for a in jobs_allowed)
    ]
    assert found == []
    durable = ast.parse((SRC / "plastrond" / "durable.py").read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(durable)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported and not any(name is None or "plastrond" in name for name in imported)


#: words of Fedora 4.7's (ModeShape's) error answers and of its Java internals: what they mean
#: is answered by `plastrond.repository` (`fedora47_race`, `retry_races`, ...), never parsed above
FEDORA_QUIRK_WORDS = (
    "ModeShape",
    "javax.jcr",
    "PathNotFoundException",
    "ValueFormatException",
    "ConstraintViolationException",
    "NamespaceException",
    "NullPointerException",
    "IllegalStateException",
    "mode:namespaces",
    "Node type",
    "Checksum Mismatch",
    "CharsetEncoder",
)


def quirk_literals(source: str, name: str = "<source>") -> list[str]:
    """The string literals in the code of *source* (docstrings left out) that name a word of
    `FEDORA_QUIRK_WORDS`, as "line: literal"."""
    tree = ast.parse(source, name)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        f"{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and any(word.lower() in node.value.lower() for word in FEDORA_QUIRK_WORDS)
    ]


def test_fedora_quirks_are_known_only_to_the_repository_package():
    repository = SRC / "plastrond" / "repository"
    found = [
        f"{path.relative_to(SRC)}:{hit}"
        for path in SRC.rglob("*.py")
        if repository not in path.parents
        for hit in quirk_literals(path.read_text(), str(path))
    ]
    assert found == []


def test_quirk_literals_finds_code_strings_not_docstrings():
    source = (
        '"""Fedora 4.7 (ModeShape) says PathNotFoundException."""\n'
        "def f(e):\n"
        '    """ModeShape again."""\n'
        "    # ModeShape in a comment\n"
        '    return "PathNotFoundException" in e.reason or f"{e}: javax.jcr.x" == ""\n'
    )
    assert quirk_literals(source) == ["5: 'PathNotFoundException'", "5: ': javax.jcr.x'"]


#: the longest a function of plastrond may be, and the Daemon class (it is wiring: each part
#: it wires has a module of its own)
MAX_FUNCTION_LINES = 80
MAX_DAEMON_LINES = 220


def _lines(node: ast.AST) -> int:
    """Lines from the `def` or `class` line to the last (decorators not counted)."""
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def test_no_function_is_long():
    found = set()
    for path in (SRC / "plastrond").rglob("*.py"):
        nodes = ast.walk(ast.parse(path.read_text(), str(path)))
        functions = [n for n in nodes if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for node in functions:
            if _lines(node) > MAX_FUNCTION_LINES:
                found.add((path.relative_to(SRC / "plastrond").as_posix(), node.name))
    assert found == set()


def test_the_daemon_stays_wiring():
    tree = ast.parse((SRC / "plastrond" / "daemon.py").read_text())
    (daemon,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Daemon"]
    assert _lines(daemon) < MAX_DAEMON_LINES
