"""
The demo every entry point serves: ``wecal export --sandbox``, ``wecal events
list --sandbox``, ``wecal sandbox`` and ``python -m wecal.sandbox``.

One :class:`DemoSettings` holds the defaults they all share (seed, sources and
events per provider, latency, faults); :func:`build` fills a sandbox with it;
:func:`banner` says what a client needs to talk to it; :func:`serve_demo`
binds the port (refusing a taken one before any banner) and serves it.

Faults on the command line (``--faults``) use the names of
:class:`~wecal.sandbox.Fault`'s constructors, so a spec reads like the Python
API: ``ITEM[,ITEM...]`` where ``ITEM`` is ``NAME[(ARGS)][@P][:TARGET]`` —
``server_error(502)@0.1`` (one request in ten answers 502),
``busy@0.05:wecom.*`` (only WeCom APIs), ``error(45033)``, ``latency(0.2)@0.5``.
``P`` defaults to 1 (every request), ``TARGET`` to ``*`` (see
:meth:`Faults.rate <wecal.sandbox.Faults.rate>`).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import re
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import attrs

# Re-exported: the demo's numbers live outside the sandbox (see _demo_settings).
from .._demo_settings import DEFAULTS, LIMITS, DemoSettings, check_limit
from ..errors import ValidationError
from ..providers._emulation._faults import Fault, FaultKind
from ..providers._registry import PROVIDERS
from ._data import generate_sources
from ._state import Sandbox

if TYPE_CHECKING:
    from ..providers._common import CalendarProvider

__all__ = [
    "DEFAULTS",
    "LIMITS",
    "Demo",
    "DemoSettings",
    "banner",
    "bind",
    "build",
    "check_limit",
    "credentials",
    "demo",
    "parse_faults",
    "sandbox_clients",
    "serve_demo",
]


@attrs.frozen
class Demo:
    """A filled sandbox and the sources it serves, per provider registry name."""

    sandbox: Sandbox
    sources: dict[str, tuple[str, ...]]
    settings: DemoSettings


def demo(
    sandbox: Sandbox,
    *,
    seed: int = DEFAULTS.seed,
    sources: int = DEFAULTS.sources,
    size: int = DEFAULTS.size,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, tuple[str, ...]]:
    """
    Fill ``sandbox`` with ``sources`` sources of ``size`` events per provider;
    ``progress(done, total)`` after each source's events.
    """
    total = sources * len(PROVIDERS)

    def report(done: int, _of: int) -> None:
        if progress is not None:
            progress(done, total)

    found = generate_sources(sandbox, seed=seed, sources=sources, size=size, progress=report)
    done = sum(len(ids) for ids in found.values())
    for entry in PROVIDERS.values():
        # An emulator that fills its own demo data says so with populate().
        populate = getattr(entry.load_emulator(), "populate", None)
        if entry.name not in found and populate is not None:
            found[entry.name] = tuple(populate(sandbox, seed=seed, sources=sources, size=size))
            done += len(found[entry.name])
            report(done, total)
    return found


#: From this many demo events on, building them is said as it goes (seconds).
LARGE_DEMO = 10_000


def build(settings: DemoSettings = DEFAULTS, *, out: TextIO | None = None) -> Demo:
    """
    A sandbox filled with the demo data of ``settings``, its faults set. A
    demo of ``LARGE_DEMO`` events or more says on ``out`` how far it got,
    one line per source.
    """
    if settings.latency < 0:
        raise ValidationError(f"latency must be >= 0 seconds, got {settings.latency}")
    rules = parse_faults(settings.faults)  # before any work: a bad spec is a usage error
    sandbox = Sandbox(seed=settings.seed)
    events = settings.sources * settings.size * len(PROVIDERS)
    report: Callable[[int, int], None] | None = None
    if out is not None and events >= LARGE_DEMO:
        stream = out

        def report(done: int, total: int) -> None:
            stream.write(
                f"wecal: building the sandbox's demo data ({events:,} events): "
                f"{done} of {total} sources\n"
            )
            stream.flush()

    sources = demo(
        sandbox,
        seed=settings.seed,
        sources=settings.sources,
        size=settings.size,
        progress=report,
    )
    if settings.latency:
        sandbox.faults.rate(Fault.latency(settings.latency), p=1.0)
    for n, (fault, p, target) in enumerate(rules):
        sandbox.faults.rate(fault, p=p, target=target, seed=settings.seed * 1000 + n)
    return Demo(sandbox, sources, settings)


_ITEM = re.compile(
    r"""^(?P<name>[a-z_0-9]+)\s*(?:\((?P<args>[^()]*)\))?\s*
        (?:@\s*(?P<p>[0-9.eE+-]+))?\s*(?::\s*(?P<target>\S+))?$""",
    re.X,
)


def parse_faults(spec: str) -> list[tuple[Fault, float, str]]:
    """
    ``"server_error(502)@0.1, busy@0.05:wecom.*"`` → ``[(fault, p, target), ...]``.

    :class:`~wecal.ValidationError` names the item that does not parse.
    """
    rules: list[tuple[Fault, float, str]] = []
    for item in _split(spec):
        match = _ITEM.match(item)
        if match is None:
            raise ValidationError(
                f"fault {item!r}: expected NAME[(ARGS)][@P][:TARGET], e.g. server_error(502)@0.1"
            )
        name = match["name"]
        if name not in FaultKind.__members__.values() or not hasattr(Fault, name):
            kinds = ", ".join(k.value for k in FaultKind if hasattr(Fault, k.value))
            raise ValidationError(f"fault {item!r}: unknown fault {name!r} (known: {kinds})")
        try:
            args = ast.literal_eval(f"({match['args']},)") if match["args"] else ()
            fault: Fault = getattr(Fault, name)(*args)
        except ValidationError as exc:
            raise ValidationError(f"fault {item!r}: {exc.message}") from None
        except (ValueError, TypeError, SyntaxError) as exc:
            raise ValidationError(f"fault {item!r}: bad arguments ({exc})") from None
        try:
            p = float(match["p"]) if match["p"] else 1.0
        except ValueError:
            p = -1.0
        if not 0.0 <= p <= 1.0:
            raise ValidationError(f"fault {item!r}: @P must be a probability from 0 to 1")
        rules.append((fault, p, match["target"] or "*"))
    return rules


def _split(spec: str) -> list[str]:
    """Split on commas outside parentheses; drop empty items."""
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in spec:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [i.strip() for i in items if i.strip()]


def credentials() -> dict[str, tuple[str, str]]:
    """The sandbox's default app credentials per provider registry name."""
    found: dict[str, tuple[str, str]] = {}
    for entry in PROVIDERS.values():
        module = importlib.import_module(entry.emulator)
        found[entry.name] = module.CREDENTIALS
    return found


def sandbox_clients(**settings: Any) -> dict[str, CalendarProvider]:
    """One client per provider, with the sandbox's default credentials and ``settings``."""
    return {
        name: PROVIDERS[name].client(app_id, secret, **settings)
        for name, (app_id, secret) in credentials().items()
    }


def banner(url: str, demo: Demo) -> str:
    """What a newcomer needs to point a client (or ``wecal``) at the served demo."""
    s = demo.settings
    lines = [
        f"wecal sandbox serving {url} (seed {s.seed}, {s.sources} sources × {s.size} events "
        "per provider; Ctrl-C stops it)",
    ]
    if s.latency:
        lines.append(f"  every answer {s.latency}s late")
    if s.faults:
        lines.append(f"  faults: {s.faults}")
    creds = credentials()
    example: str | None = None
    python: str | None = None
    for entry in PROVIDERS.values():
        app_id, secret = creds[entry.name]
        ids = demo.sources.get(entry.name, ())
        lines += [
            "",
            f"{entry.title}: --provider {entry.name}",
            f"  {entry.app_id.option.lstrip('-')}: {app_id}    ({entry.app_id.env})",
            f"  {entry.secret.option.lstrip('-')}: {secret}    ({entry.secret.env})",
            f"  {entry.source_kind}s ({entry.source_help}): {', '.join(ids) or '-'}",
        ]
        # An emulator may say more about its sources (DingTalk v1.0: staff ids).
        more = getattr(importlib.import_module(entry.emulator), "source_lines", None)
        if more is not None:
            lines += more(demo.sandbox, ids)
        if python is None:
            name = getattr(entry.client, "__name__", entry.title)
            python = f'wecal.{name}("{app_id}", "{secret}", base_url="{url}")'
        if example is None and ids:
            option = "--calendar" if entry.source_kind == "calendar" else "--user"
            example = (
                f"{entry.app_id.env}={app_id} {entry.secret.env}={secret} wecal export "
                f"--provider {entry.name} --base-url {url} {option} {ids[0]} -o out.jsonl"
            )
    lines += ["", "These are the sandbox's own demo credentials. Point a client at it:"]
    if python is not None:
        lines.append(f"  {python}")
    if example is not None:
        lines += ["or the command line:", f"  {example}"]
    return "\n".join(lines)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; OSError (EADDRINUSE…) when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto is TCP.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def serve_demo(settings: DemoSettings, *, host: str, port: int, out: TextIO, err: TextIO) -> int:
    """
    Bind, print the banner to ``out``, serve until Ctrl-C; the exit code.

    A taken port (or a bad host) is said on ``err`` in one line, before any
    banner, and returns 2 (refused before any work, as a locked export is);
    a bad fault spec raises ValidationError first.
    """
    import uvicorn

    parse_faults(settings.faults)  # a bad spec first, then the port, then the data
    try:
        sock = bind(host, port)
    except OSError as exc:
        err.write(
            f"wecal: error: cannot listen on {host}:{port}: {exc.strerror or exc}"
            " (another sandbox running? pick another --port)\n"
        )
        return 2
    with contextlib.closing(sock):
        demo = build(settings, out=err)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        out.write(banner(f"http://{shown}:{bound}", demo) + "\n")
        out.flush()
        config = uvicorn.Config(
            demo.sandbox.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        uvicorn.Server(config).run(sockets=[sock])
    return 0
