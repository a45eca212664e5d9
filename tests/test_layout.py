"""
The package's layers, checked on the source (``ast``, nothing imported).

Parts (one line each in the table below) and the imports they never make:

    Face       wecal/__init__.py, wecal/cli.py      the public names, the command
               (and wecal/_demo_settings.py, the demo's numbers the command's options show)
    Sandbox    wecal/sandbox/                       the emulator's app and state
    Providers  wecal/providers/                     one folder per provider + the registry
    Jobs       wecal/export/                        export, provider-free
    Notify     wecal/notifications/                 the callback endpoint
    Core       the send loop, client base, paging, sync machinery
    Model      models, recurrence, errors, zones, redaction, and the callback
               building blocks (wecal/_callbacks/) the providers and Notify share

Besides the layers: no import circle in ``wecal/``, not even through
``TYPE_CHECKING`` imports; a provider folder never
imports another provider's private modules; no function-level import of a
wecal module (each exception is listed with its reason); and no provider's
name, code or header in the code outside its folder (the known exceptions
are listed with their reasons, to shrink, never to grow).
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wecal"

CORE = (
    "wecal._http",
    "wecal._dialect",
    "wecal._client",
    "wecal._tokens",
    "wecal._ratelimit",
    "wecal._shared",
    "wecal.redis",
    "wecal._resp",
    "wecal._retry",
    "wecal.paging",
    "wecal._convert",
    "wecal.sync",
)
MODEL = (
    "wecal.models",
    "wecal.recurrence",
    "wecal.errors",
    "wecal._zones",
    "wecal._redact",
    "wecal._callbacks",
)


def part_of(module: str) -> str:
    """The layer a module (dotted name) belongs to."""
    if module in ("wecal", "wecal.cli", "wecal._demo_settings"):
        return "Face"
    for prefix, part in (
        ("wecal.sandbox", "Sandbox"),
        ("wecal.providers", "Providers"),
        ("wecal.export", "Jobs"),
        ("wecal.notifications", "Notify"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return part
    if any(module == m or module.startswith(m + ".") for m in CORE):
        return "Core"
    if any(module == m or module.startswith(m + ".") for m in MODEL):
        return "Model"
    raise AssertionError(f"{module} belongs to no layer: add it to tests/test_layout.py")


#: (from, to, why): imports that never happen, whatever the kind of import.
NEVER = (
    ("Core", "Providers", "the core knows no provider"),
    ("Model", "Providers", "the model knows no provider"),
    ("Model", "Core", "the model sends nothing"),
    ("Jobs", "Providers", "export reaches providers only through the registry, given to it"),
    ("Jobs", "Sandbox", "jobs never need the emulator"),
    ("Core", "Sandbox", "the core never needs the emulator"),
    ("Notify", "Sandbox", "the endpoint never needs the emulator"),
    ("Model", "Sandbox", "the model never needs the emulator"),
    ("Providers", "Notify", "callbacks build on wecal._callbacks; Notify iterates them"),
    ("Model", "Notify", "the callback building blocks sit below the endpoint"),
)

#: (importer, imported, reason): the layer rules' known exceptions, to shrink.
LAYER_EXCEPTIONS: dict[tuple[str, str], str] = {}

#: (importer, imported): function-level imports of wecal modules, with the reason.
FUNCTION_LEVEL = {
    ("wecal.cli", "wecal.sandbox._demo"): (
        "the sandbox (starlette, uvicorn) is loaded only by the commands that serve it"
    ),
    ("wecal.cli", "wecal.redis"): "coredis (the redis extra) is loaded only for --redis",
    ("wecal.cli", "wecal.export.distributed"): (
        "the distributed export needs coredis (the redis extra), loaded only with --redis"
    ),
    ("wecal.cli", "wecal.export.arq"): (
        "arq (the arq extra) is loaded only by wecal worker and export --redis"
    ),
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def resolve(name: str) -> str | None:
    """The wecal module ``name`` (a module or a name inside one) refers to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


class Import:
    def __init__(self, target: str, line: int, *, function: bool, type_only: bool) -> None:
        self.target = target
        self.line = line
        self.function = function
        self.type_only = type_only


@functools.cache
def imports_of(module: str) -> tuple[Import, ...]:
    """Every wecal module ``module`` imports (``from . import x`` counts as ``x``)."""
    return tuple(_imports_of(module))


def _imports_of(module: str) -> Iterator[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    in_function: set[int] = set()
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            in_function.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            names = [f"{origin}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name != "wecal" and not name.startswith("wecal."):
                continue
            target = resolve(name)
            if target is not None and target != module:
                yield Import(
                    target,
                    node.lineno,
                    function=id(node) in in_function,
                    type_only=id(node) in type_only,
                )


def graph(*, with_type_only: bool) -> dict[str, set[str]]:
    return {
        m: {i.target for i in imports_of(m) if with_type_only or not i.type_only} for m in MODULES
    }


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_circles_finds_a_circle() -> None:
    # The detector itself: a → b → c → a is one circle, d alone is none.
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert circles(edges) == [["a", "b", "c"]]


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        part_of(module)


def test_no_import_circles() -> None:
    found = circles(graph(with_type_only=False))
    assert found == [], f"import circles in wecal/: {found}"


def test_no_import_circles_even_for_type_checking() -> None:
    # With the TYPE_CHECKING imports (annotations only), no circle either: a
    # module that needs its caller's type takes a protocol or the pieces it
    # uses (an emulator annotates with the host protocol, not the sandbox).
    found = circles(graph(with_type_only=True))
    assert found == [], f"import circles (with TYPE_CHECKING imports): {found}"


def test_layers() -> None:
    broken = []
    for module in MODULES:
        for imp in imports_of(module):
            pair = (part_of(module), part_of(imp.target))
            for source, target, why in NEVER:
                if pair == (source, target) and (module, imp.target) not in LAYER_EXCEPTIONS:
                    broken.append(f"{module}:{imp.line} imports {imp.target} ({why})")
    assert broken == []


def test_layer_exceptions_are_still_needed() -> None:
    # An exception whose import is gone leaves the list: it only shrinks.
    present = {(m, i.target) for m in MODULES for i in imports_of(m)}
    assert set(LAYER_EXCEPTIONS) <= present, set(LAYER_EXCEPTIONS) - present
    assert set(CROSS_PROVIDER) <= present, set(CROSS_PROVIDER) - present


def provider_folder(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "providers" and not parts[2].startswith("_"):
        return parts[2]
    return None


#: (importer, imported): a provider's private module another one uses, with the reason.
CROSS_PROVIDER = {
    ("wecal.providers.dingtalk._client", "wecal.providers.dingtalk_legacy._errors"): (
        "the v1.0 client looks userids up through the legacy API, so it sends in its dialect"
    ),
    ("wecal.providers.dingtalk_legacy._errors", "wecal.providers.dingtalk._errors"): (
        "the shared gateway answers some legacy calls in the v1.0 error form"
    ),
}


def test_providers_never_import_each_others_private_modules() -> None:
    broken = []
    for module in MODULES:
        mine = provider_folder(module)
        if mine is None:
            continue
        for imp in imports_of(module):
            theirs = provider_folder(imp.target)
            private = imp.target.count(".") > 2 or imp.target.rpartition(".")[2].startswith("_")
            listed = (module, imp.target) in CROSS_PROVIDER
            if theirs is not None and theirs != mine and private and not listed:
                broken.append(f"{module}:{imp.line} imports {imp.target}")
    assert broken == []


def test_no_function_level_imports_of_wecal_modules() -> None:
    found = {(m, i.target): f"{m}:{i.line}" for m in MODULES for i in imports_of(m) if i.function}
    unexplained = sorted(where for pair, where in found.items() if pair not in FUNCTION_LEVEL)
    assert unexplained == [], "import at module level, or list it with its reason"
    assert set(FUNCTION_LEVEL) <= set(found), "a listed exception is gone: drop it"


# -- provider names outside their folders ------------------------------------------

#: Names, codes and headers that belong to one provider (case-insensitive).
PROVIDER_WORDS = re.compile(
    r"wecom|dingtalk|qyapi|x-acs-|errcode|errmsg|access_token|corpsecret|corpid"
    r"|appsecret|appkey|unionid|topapi|cgi-bin"
    r"|feishu|lark|open-apis|open_id|union_id|x-ogw-|x-tt-logid",
    re.IGNORECASE,
)

#: Where provider names may stand outside the folders: the public re-exports.
ALLOWED = {
    "wecal/__init__.py": "the public re-exports of the clients",
    "wecal/notifications/__init__.py": "the public re-exports of the callback classes",
    "wecal/sandbox/__init__.py": "the public names of the sandbox (DEFAULT_* credentials)",
    "wecal/providers/_registry.py": "the registry: one entry per provider",
}

#: Files that still hold provider knowledge in code, and why; shrink this.
KNOWN = {
    "wecal/models.py": (
        "the public Provider enum and its Literal twin name every provider: mypy needs the "
        "members written out, and the registry sits above the model (its clients build Events), "
        "so the values cannot come from it without a circle"
    ),
    "wecal/sandbox/_state.py": "Sandbox's public per-provider methods, delegating to the states",
    "wecal/sandbox/_data.py": (
        "generate()'s public per-provider keywords and GenerateSummary's fields "
        "(each provider's generator is in its folder)"
    ),
    "wecal/sandbox/_notify.py": (
        "SandboxNotifications' public per-provider methods, delegating to the emulators"
    ),
    "wecal/sandbox/_app.py": (
        "the public errcode fields it fills and reads (RecordedRequest.errcode, Fault.errcode)"
    ),
    "wecal/sandbox/_record.py": "the recorded request's errcode field",
    "wecal/providers/_emulation/_faults.py": (
        "the public Fault's errcode/errmsg fields, and the API gateway's qps_403 answer "
        "every emulator gives"
    ),
}


def code_words(path: Path) -> set[str]:
    """Provider words in code: names and string literals, not comments or docstrings."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(body[0].lineno)
    words = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            continue
        if tok.type == tokenize.STRING and tok.start[0] in docstrings:
            continue
        if tok.type in (tokenize.NAME, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1)):
            words.update(m.group(0).lower() for m in PROVIDER_WORDS.finditer(tok.string))
    return words


def test_provider_words_stay_in_their_folders() -> None:
    holding = {}
    for module, path in MODULES.items():
        rel = path.relative_to(ROOT).as_posix()
        if provider_folder(module) is not None or rel in ALLOWED:
            continue
        words = code_words(path)
        if words:
            holding[rel] = sorted(words)
    unexplained = {f: w for f, w in holding.items() if f not in KNOWN}
    assert unexplained == {}, "move it into the provider's folder (or say why in KNOWN)"
    cleared = sorted(set(KNOWN) - set(holding))
    assert cleared == [], f"no provider words left in {cleared}: drop them from KNOWN"


def test_code_words_skips_prose(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        '"""Talks to WeCom."""\n# a WeCom comment\nx = 1\n'
        'def f():\n    """DingTalk."""\n    return "errcode"\n',
        encoding="utf-8",
    )
    assert code_words(sample) == {"errcode"}
