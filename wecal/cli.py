"""
The ``wecal`` command (``pip install 'wecal[cli]'``).

::

    wecal export --sandbox -o demo.ics              # no credentials: the embedded emulator
    wecal export --provider wecom --calendar wcjgew...AAA -o out.jsonl --checkpoint out.ckpt
    wecal events list --provider dingtalk-legacy --user 123134568
    wecal sandbox --port 8765

Credentials come from flags or the environment (``WECAL_WECOM_CORP_ID``,
``WECAL_WECOM_SECRET``, ``WECAL_DINGTALK_APP_KEY``, ``WECAL_DINGTALK_APP_SECRET``)
and are never printed. A command asks only for those it uses: ``export
--dry-run --offline`` none, ``export --job`` the app id (its workers hold the
secret).

Every error a user can cause is one line on stderr, ``wecal: error: ...``, and
an exit code: 2 when the command was refused before any work (a usage error, a
checkpoint that does not fit, a locked export), 1 when the work failed. ``--debug``
(or ``WECAL_DEBUG=1``) also prints the traceback, for bug reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import heapq
import os
import signal
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

try:
    import click
except ImportError:  # pragma: no cover - exercised only without the extra
    sys.stderr.write("wecal: the command line needs the cli extra: pip install 'wecal[cli]'\n")
    raise SystemExit(2) from None

import anyio
import anyio.abc
import httpx

from . import __version__
from ._client import BaseClient
from ._demo_settings import DEFAULTS, LIMITS
from ._http import CallStats, _mask_userinfo
from ._ratelimit import RateLimitConfig
from ._retry import RetryConfig
from ._shared import REDIS_PATIENCE, redis_client_error
from ._tokens import MemoryTokenStore
from ._zones import DEFAULT_DATE_ZONE, zone_for
from .errors import (
    ConfigurationError,
    ProviderError,
    RateLimitError,
    TransportError,
    ValidationError,
    WecalError,
    _bad_text,
)
from .export import ExportResult, PageLike, Progress, Source, export, parse_when
from .models import Event
from .paging import Paginator
from .providers._common import CalendarProvider
from .providers._registry import PROVIDERS, Credential, ProviderEntry

__all__ = ["main"]

_FORMATS = {".ics": "ics", ".ical": "ics", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_KINDS = ("calendar", "user")

#: Set by ``--debug`` or ``WECAL_DEBUG=1``: tracebacks are printed with the error line.
_debug = [False]


def _debug_from_environment() -> bool:
    return os.environ.get("WECAL_DEBUG", "") not in ("", "0")


# --- errors: one line, one exit code ----------------------------------------------------


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, cancellations left out."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    if isinstance(exc, asyncio.CancelledError) or type(exc).__name__ == "Cancelled":
        return []  # asyncio's or trio's: the other task's error is the story
    return [exc]


def _error_line(exc: BaseException) -> tuple[str, int]:
    """What to say about ``exc`` in one line, and the exit code."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = _leaves(exc) or [exc.exceptions[0]]
        return _error_line(leaves[0])
    if isinstance(exc, click.UsageError):
        where = exc.ctx.command_path if exc.ctx is not None else "wecal"
        return f"{exc.format_message()} (see '{where} --help')", 2
    if isinstance(exc, click.ClickException):
        return exc.format_message(), exc.exit_code
    if isinstance(exc, ValidationError):
        return str(exc), 2
    if isinstance(exc, WecalError):
        return f"{type(exc).__name__}: {exc}", 1
    if redis_client_error(exc):
        return f"Redis unreachable: {_line(str(exc)) or type(exc).__name__}", 1
    if isinstance(exc, OSError):
        if exc.filename is not None:
            return f"cannot write {exc.filename}: {exc.strerror or exc}", 1
        return f"{exc.strerror or exc}", 1
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    return (
        f"internal error {type(exc).__name__}: {exc} (rerun with --debug and report it)",
        1,
    )


async def _riding_out(
    call: Callable[[], Awaitable[Any]], outage: list[float], status: IO[str]
) -> Any:
    """``await call()``, retried while Redis is unreachable, for ``REDIS_PATIENCE`` seconds.

    ``outage`` holds when the current outage began (empty while Redis answers),
    so one outage spans the calls of a loop and is reported once.
    """
    delay = 0.25
    while True:
        try:
            result = await call()
        except Exception as exc:
            if not (redis_client_error(exc) or isinstance(exc, ConnectionError)):
                raise
            now = time.monotonic()
            if not outage:
                outage.append(now)
                why = _line(str(exc)) or type(exc).__name__
                status.write(f"wecal: Redis unreachable ({why}); waiting for it to answer\n")
                status.flush()
            elif now - outage[0] >= REDIS_PATIENCE:
                raise
            await anyio.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        if outage:
            outage.clear()
            status.write("wecal: Redis answers again\n")
            status.flush()
        return result


def _line(text: str) -> str:
    """One line: a message never spans several (a provider's text might)."""
    return " ".join(text.split())


class _Interrupted(Exception):
    """Ctrl-C during a run (click would print a blank line for a KeyboardInterrupt)."""


def _run_async(fn: Callable[..., Awaitable[int]], *args: Any, resume: str = "") -> int:
    """``fn(*args)`` under anyio; Ctrl-C says ``resume`` (what a rerun does) after "interrupted"."""
    try:
        return anyio.run(fn, *args)
    except KeyboardInterrupt:
        raise _Interrupted(resume) from None
    except BaseExceptionGroup as group:
        if any(isinstance(e, KeyboardInterrupt) for e in _leaves(group)):
            raise _Interrupted(resume) from None
        raise


#: What click (8.2 and later) raises for a group called without a command.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


class _Main(click.Group):
    """The ``wecal`` group: every error becomes one line and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        # Read per command, not per import: a program (or a test) may run several.
        _debug[0] = _debug_from_environment()
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Exit as done:
            code = done.exit_code
        except _NO_ARGS_IS_HELP as bare:
            # `wecal` or `wecal events` alone: the help, as --help shows it (not
            # squeezed into an error line); click < 8.2 prints it itself.
            click.echo(bare.ctx.get_help())
            code = 0
        except (click.exceptions.Abort, _Interrupted) as stop:
            hint = stop.args[0] if isinstance(stop, _Interrupted) and stop.args else ""
            sys.stderr.write(f"wecal: interrupted{'; ' + hint if hint else ''}\n")
            code = 130
        except BaseException as exc:
            if isinstance(exc, SystemExit):
                raise
            if _debug[0]:
                traceback.print_exception(exc)
            text, code = _error_line(exc)
            sys.stderr.write(f"wecal: error: {_line(text)}\n")
        sys.exit(code if isinstance(code, int) else 0)


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _debug[0] = True


_debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help="Print tracebacks with errors (also WECAL_DEBUG=1), for bug reports.",
)


# --- what to talk to ----------------------------------------------------------------------


class _Config:
    """What an export or listing talks to: one client per provider, and their sources."""

    def __init__(self) -> None:
        self.clients: dict[str, CalendarProvider] = {}
        self.owner: dict[Source, ProviderEntry] = {}
        #: The app id (not the secret) each provider's client signs in as.
        self.apps: dict[str, str] = {}
        self.label = ""
        self.base_url: str | None = None
        #: What, besides the sources, says which data this is (a checkpoint is bound to it).
        self.identity: dict[str, object] = {}
        #: ``--redis``: the state every client shares with the app's other
        #: processes, entered around the run (:meth:`running`).
        self.shared: Any = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The shared state entered for the run (a long-lived task: the command's own)."""
        if self.shared is None:
            yield
            return
        async with self.shared:
            yield

    @property
    def sources(self) -> list[Source]:
        return list(self.owner)

    def add(self, provider: ProviderEntry, client: CalendarProvider, ids: Sequence[str]) -> None:
        self.clients[provider.name] = client
        for ident in ids:
            self.owner.setdefault(Source(provider.source_kind, ident), provider)

    def name(self, source: Source) -> str:
        """``wecom calendar:ID`` when several providers are in play, else ``calendar:ID``."""
        return f"{self.owner[source].name} {source.key}" if len(self.clients) > 1 else source.key

    @property
    def stats(self) -> CallStats:
        return sum(
            (c.stats for c in self.clients.values() if isinstance(c, BaseClient)),
            start=CallStats(),
        )

    def paginator(
        self,
        source: Source,
        *,
        start: datetime | None,
        end: datetime | None,
        expand: bool,
        page_size: int | None = None,
    ) -> Paginator[Event]:
        provider = self.owner[source]
        return provider.list_source(
            self.clients[provider.name],
            source.id,
            start=start,
            end=end,
            expand=expand,
            page_size=page_size,
        )

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


def _parse_sources(
    provider: ProviderEntry,
    calendars: Sequence[str],
    users: Sequence[str],
    sources_file: Path | None,
) -> list[Source]:
    for option, values in (("--calendar", calendars), ("--user", users)):
        for value in values:
            if _bad_text(value) is not None:
                raise click.BadParameter(
                    f"{value!r} is not valid text (bytes that are not UTF-8): "
                    "an id is letters, digits and punctuation",
                    param_hint=option,
                )
    items = [Source("calendar", c) for c in calendars] + [Source("user", u) for u in users]
    if sources_file is not None:
        try:
            text = sources_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise click.BadParameter(
                f"cannot read {sources_file}: {why}", param_hint="--sources-file"
            ) from None
        for n, line in enumerate(text.splitlines(), 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            kind, sep, ident = entry.partition(":")
            if sep and kind in _KINDS:
                items.append(Source(kind, ident.strip()))
            elif sep and kind not in _KINDS and " " not in kind:
                raise click.BadParameter(
                    f"{sources_file} line {n}: use 'calendar:ID', 'user:ID' or a bare ID",
                    param_hint="--sources-file",
                )
            else:
                items.append(Source(provider.source_kind, entry))
    return list(dict.fromkeys(items))


def _select_demo(
    served: Mapping[str, Sequence[str]],
    provider: str | None,
    calendars: Sequence[str],
    users: Sequence[str],
) -> dict[str, list[str]]:
    """The demo sources to use: all (of ``provider``), or those --calendar/--user name."""
    pool = {name: list(ids) for name, ids in served.items() if provider in (None, name)}
    if not calendars and not users:
        return pool
    chosen: dict[str, list[str]] = {}
    for kind, wanted in (("calendar", calendars), ("user", users)):
        for ident in wanted:
            owners = [
                name
                for name, ids in pool.items()
                if PROVIDERS[name].source_kind == kind and ident in ids
            ]
            if not owners:
                known = sorted(
                    i for n, ids in pool.items() if PROVIDERS[n].source_kind == kind for i in ids
                )
                raise click.BadParameter(
                    f"the sandbox serves no {kind} {ident!r}; its {kind}s: "
                    f"{', '.join(known) or 'none'} (run 'wecal sandbox' to list them)",
                    param_hint=f"--{kind}",
                )
            for name in owners:
                chosen.setdefault(name, []).append(ident)
    return chosen


def _build(
    *,
    sandbox: bool,
    provider: str | None,
    credentials: dict[str, str | None],
    base_url: str | None,
    calendars: Sequence[str],
    users: Sequence[str],
    sources_file: Path | None,
    seed: int,
    size: int,
    latency: float,
    faults: str,
    redis: str | None,
    quiet: bool = False,
    needs: str = "secret",
) -> _Config:
    """
    The clients and sources of a command. ``needs`` says which credentials the
    command uses, so none is asked for that it never sends: ``"secret"`` (it
    calls the provider), ``"app"`` (a ``--job``: the workers read, with their
    own secret; the command binds the job to the app id) or ``"nothing"``
    (``--dry-run --offline``: no request, no Redis).
    """
    config = _Config()
    shared: dict[str, Any] = {}
    if needs == "nothing":
        redis = None  # an offline plan shares no state: it never touches Redis
    if redis is not None:
        # coredis comes with the redis extra: loaded only when asked for.
        try:
            from .redis import RedisBackend
        except ImportError:
            raise click.UsageError(
                "--redis needs the redis extra: pip install 'wecal[redis]'"
            ) from None
        config.shared = RedisBackend(redis)
        shared["shared"] = config.shared
    if sandbox:
        if base_url is not None:
            raise click.UsageError("--sandbox serves its own API: drop --base-url")
        if sources_file is not None:
            raise click.UsageError(
                "with --sandbox, pick demo sources with --calendar / --user, not --sources-file"
            )
        from .sandbox._demo import DemoSettings, build
        from .sandbox._demo import credentials as demo_credentials

        settings = DemoSettings(seed=seed, size=size, latency=latency, faults=faults)
        demo = build(settings, out=None if quiet else sys.stderr)
        selected = _select_demo(demo.sources, provider, calendars, users)
        transport = httpx.ASGITransport(app=demo.sandbox.app)
        for name, (demo_id, demo_secret) in demo_credentials().items():
            if name in selected:
                client = PROVIDERS[name].client(
                    demo_id,
                    demo_secret,
                    base_url="http://sandbox",
                    transport=transport,
                    # The demo's tokens stay in this run, unless shared.
                    **(shared or {"token_store": MemoryTokenStore()}),
                )
                config.add(PROVIDERS[name], client, selected[name])
                config.apps[name] = demo_id
        config.label = f"sandbox (seed {seed}, size {size})"
        config.identity = {"--sandbox-seed": seed, "--sandbox-size": size}
        return config

    if latency or faults:
        raise click.UsageError("--latency and --faults apply to the sandbox: add --sandbox")
    if provider is None:
        raise click.UsageError(f"choose --sandbox or --provider {'|'.join(PROVIDERS)}")
    entry = PROVIDERS[provider]
    sources = _parse_sources(entry, calendars, users, sources_file)
    if not sources:
        raise click.UsageError(
            "name at least one source: --calendar, --user or --sources-file FILE"
        )
    app_id = credentials.get(_param(entry.app_id))
    secret = credentials.get(_param(entry.secret))
    if needs == "secret" and (not app_id or not secret):
        raise click.UsageError(
            f"{entry.title} needs {entry.app_id.option} and {entry.secret.option} "
            f"(or {entry.app_id.env} / {entry.secret.env})"
        )
    if needs == "app" and not app_id:
        raise click.UsageError(
            f"a job on {entry.title} needs {entry.app_id.option} (or {entry.app_id.env}): "
            f"the workers read with that app's credentials, and refuse a job of another "
            f"app; the secret stays with them ({entry.secret.env} in their environment)"
        )
    wrong = [s.key for s in sources if s.kind != entry.source_kind]
    if wrong:
        raise click.UsageError(
            f"{provider} cannot export {', '.join(wrong)} "
            f"({entry.title} lists by {entry.source_kind}: use --{entry.source_kind})"
        )
    if needs == "secret" and app_id and secret:  # (both checked above)
        client = entry.client(app_id, secret, base_url=base_url, **shared)
    else:
        # A client that is never asked to call: it only plans (the page kind,
        # the rate). No secret is loaded into it, and its transport refuses
        # any request, so no placeholder credential can reach a provider.
        app_id = app_id or "-"
        client = entry.client(app_id, "-", base_url=base_url, transport=_NoRequests(), **shared)
    config.add(entry, client, [s.id for s in sources])
    config.apps[entry.name] = app_id
    config.base_url = base_url
    config.label = provider
    # Another host or another app may hold other data under the same ids.
    config.identity = {"--base-url": base_url, entry.app_id.option: app_id}
    return config


class _NoRequests(httpx.AsyncBaseTransport):
    """The transport of a client that plans only: a request is a bug, never sent."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError(
            f"a planning client was asked to send {request.method} {request.url.path}"
        )


def _param(credential: Credential) -> str:
    """The click parameter name of a credential option (``--corp-id`` → ``corp_id``)."""
    return credential.option.lstrip("-").replace("-", "_")


def _credentials() -> list[Credential]:
    """Every credential option of every provider, once (DingTalk's APIs share theirs)."""
    found = {c.option: c for e in PROVIDERS.values() for c in (e.app_id, e.secret)}
    return list(found.values())


_TARGET_OPTIONS = (
    "sandbox",
    "provider",
    "base_url",
    "redis",
    "calendars",
    "users",
    "sources_file",
    "latency",
    "faults",
)


def _source_help(kind: str) -> str:
    names = ", ".join(
        f"{e.source_help} (--provider {e.name})"
        for e in PROVIDERS.values()
        if e.source_kind == kind
    )
    return f"{names} (repeatable; with --sandbox: one of the demo's)."


def _demo_options(*, sandbox_prefix: bool) -> list[Callable[[Any], Any]]:
    """The demo's options, one set of defaults (``--sandbox-seed`` on export and list)."""
    pre, only = ("sandbox-", " (with --sandbox)") if sandbox_prefix else ("", "")
    return [
        click.option(
            f"--{pre}seed", default=DEFAULTS.seed, show_default=True, help="Demo data seed."
        ),
        click.option(
            f"--{pre}size",
            default=DEFAULTS.size,
            show_default=True,
            type=click.IntRange(*LIMITS["size"]),
            help="Demo events per source (calendar or user).",
        ),
        click.option(
            "--latency",
            default=DEFAULTS.latency,
            type=click.FloatRange(*LIMITS["latency"]),
            help=f"Seconds added to every answer{only}.",
        ),
        click.option(
            "--faults",
            default=DEFAULTS.faults,
            help=f"Faults{only} as NAME[(ARGS)][@P][:TARGET],... "
            f"e.g. 'server_error(502)@0.1,busy@0.05:{next(iter(PROVIDERS))}.*'.",
        ),
    ]


def _redis_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--redis`` checked before any work; never the password in the message."""
    if value is None or value == "":
        return None
    scheme = value.partition("://")[0].lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise click.BadParameter(
            f"{_mask_userinfo(value)!r} is not a redis://, rediss:// or unix:// URL",
            param_hint="--redis",
        )
    return value


def _base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """
    ``--base-url`` checked before any work: one line, exit 2, and never the
    password of a ``user:password@`` in it, whatever the scheme.
    """
    if value is None:
        return None
    shown = repr(_mask_userinfo(value))

    def bad(why: str) -> click.BadParameter:
        return click.BadParameter(
            f"{shown} {why} (e.g. http://127.0.0.1:8765)", param_hint="--base-url"
        )

    rest = value.partition("://")[2] or value
    authority = rest[: min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))]
    if "@" in authority:
        raise bad(
            "carries credentials (user:password@); drop them: wecal signs in with the "
            "app's id and secret"
        )
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise bad("is not a URL: it holds spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
        httpx.URL(value)
    except (ValueError, httpx.InvalidURL) as exc:  # UnicodeError is a ValueError
        raise bad(f"is not a valid URL ({_line(str(exc))})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise bad("is not an http(s) URL")
    return value


def _target_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options saying what to read: sandbox or provider, credentials, sources."""

    options = [
        click.option("--sandbox", is_flag=True, help="Use the embedded emulator with demo data."),
        click.option(
            "--provider",
            type=click.Choice(list(PROVIDERS)),
            help="The provider API (with --sandbox: only its demo sources).",
        ),
        *(
            click.option(c.option, envvar=c.env, help=c.help, show_envvar=False)
            for c in _credentials()
        ),
        click.option(
            "--base-url",
            callback=_base_url,
            help="Another API host (private deployment, a sandbox).",
        ),
        click.option(
            "--redis",
            envvar="WECAL_REDIS_URL",
            callback=_redis_url,
            help="Share tokens, rate limits and quotas with the app's other processes "
            "through this Redis (redis://host:port/db; also WECAL_REDIS_URL). "
            "Needs the redis extra.",
        ),
        click.option("--calendar", "calendars", multiple=True, help=_source_help("calendar")),
        click.option("--user", "users", multiple=True, help=_source_help("user")),
        click.option(
            "--sources-file",
            "sources_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="File of sources, one per line (calendar:ID, user:ID or a bare ID).",
        ),
        *_demo_options(sandbox_prefix=True),
    ]

    @functools.wraps(fn)
    def packed(**kwargs: Any) -> Any:
        target = {name: kwargs.pop(name) for name in _TARGET_OPTIONS}
        target["credentials"] = {_param(c): kwargs.pop(_param(c)) for c in _credentials()}
        target["seed"], target["size"] = kwargs.pop("sandbox_seed"), kwargs.pop("sandbox_size")
        return fn(target=target, **kwargs)

    wrapped: Callable[..., Any] = packed
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped


def _zone(ctx: click.Context, param: click.Parameter, value: str) -> tzinfo:
    zone = zone_for(value)
    if zone is None:
        raise click.BadParameter(f"{value!r} is not an IANA zone or a ±HH:MM offset")
    return zone


#: One rule for every command, the library's: a date is 00:00 of that day and
#: a time without an offset is a wall-clock time, both in ``--tz`` — by default
#: the clients' ``date_zone`` default (Asia/Shanghai, the providers' home zone).
_tz_option = click.option(
    "--tz",
    "zone",
    default=DEFAULT_DATE_ZONE,
    show_default=True,
    callback=_zone,
    help="The zone of dates and of times without an offset in --start/--end, "
    "and of the times shown (IANA name or ±HH:MM).",
)
_WHEN = "an ISO date (00:00 in --tz) or datetime (in --tz without an offset)"


def _when(text: str | None, zone: tzinfo, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_when(text, default_tz=zone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise click.BadParameter(
            f"--start {start.isoformat()} is not before --end {end.isoformat()}",
            param_hint="--start/--end",
        )


@click.group(cls=_Main)
@click.version_option(__version__, prog_name="wecal")
@_debug_option
def main() -> None:
    """wecal: WeCom, DingTalk and Feishu / Lark calendars, normalized.

    Errors are one line on stderr. Exit codes: 0 done, 1 the work failed
    (a provider said no, a source failed, the disk is full), 2 refused
    before any work (usage, a checkpoint that does not fit, a locked export).
    """


# --- export ----------------------------------------------------------------------------


@main.command("export")
@_target_options
@click.option("--start", help=f"Window start: {_WHEN}.")
@click.option("--end", help=f"Window end, exclusive: {_WHEN}.")
@_tz_option
@click.option("--expand", is_flag=True, help="One event per occurrence (needs --start/--end).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "ics"]),
    help="Output format (default: from the -o extension).",
)
@click.option("-o", "--output", help="Output file, or - for stdout.")
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path),
    help="Progress file: rerun the same command with it to resume after a crash.",
)
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Sources read at the same time (each client also keeps its provider's rate limits).",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, max(e.max_page_size for e in PROVIDERS.values())),
    help="Events per request (default: the provider's; "
    + ", ".join(f"{e.name} ≤ {e.max_page_size}" for e in PROVIDERS.values())
    + ").",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the final line.")
@click.option(
    "--job",
    help="Run as this distributed job on the workers (wecal worker) of --redis; "
    "rerunning the same command resumes it. Needs the app id, not the secret "
    "(the workers read, with theirs).",
)
@click.option("--status", "status_only", is_flag=True, help="Show the job's progress and exit.")
@click.option(
    "--segments",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where workers write the units' segments (shared by every worker; "
    "default: <output>.segments beside -o).",
)
@click.option(
    "--max-calls",
    type=click.IntRange(1),
    help="Stop at a commit point once this many listing calls are spent; rerun to resume "
    "(needs --checkpoint, or --job).",
)
@click.option(
    "--slice-pages",
    default=20,
    show_default=True,
    type=click.IntRange(1),
    envvar="WECAL_SLICE_PAGES",
    show_envvar=True,
    help="With --job: pages a unit reads before it commits, gives its lease back and "
    "enqueues its continuation.",
)
@click.option(
    "--slice-seconds",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    envvar="WECAL_SLICE_SECONDS",
    show_envvar=True,
    help="With --job: ... or after this many seconds, whichever comes first.",
)
@click.option(
    "--lease",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    envvar="WECAL_LEASE_SECONDS",
    show_envvar=True,
    help="With --job: seconds a silent worker keeps a unit (renewed while it works); "
    "a killed worker's unit is taken up again after it.",
)
@click.option(
    "--keep-segments",
    is_flag=True,
    help="With --job: keep the units' segments after the output is written (default: removed).",
)
@click.option(
    "--window-slices",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="With --job (or --dry-run): cut the --start/--end window of each "
    + " or ".join(e.name for e in PROVIDERS.values() if e.window_slices)
    + " source into this many units, so several workers share one big calendar.",
)
@click.option("--dry-run", is_flag=True, help="Show the plan and its cost; write nothing.")
@click.option(
    "--offline",
    is_flag=True,
    help="With --dry-run: send no request at all (no credentials, no Redis needed).",
)
@click.option("--json", "as_json", is_flag=True, help="With --dry-run or --status: JSON.")
@click.option(
    "--expect-events",
    type=click.IntRange(0),
    help="With --dry-run: events per source to assume where one page cannot tell.",
)
@click.option(
    "--monthly-quota",
    type=click.IntRange(1),
    help="With --dry-run: the monthly call quota the plan is a share of ("
    + "; ".join(dict.fromkeys(e.monthly_quota for e in PROVIDERS.values() if e.monthly_quota))
    + ").",
)
@_debug_option  # last in --help, as on every command
def export_command(
    *,
    target: dict[str, Any],
    start: str | None,
    end: str | None,
    zone: tzinfo,
    expand: bool,
    fmt: str | None,
    output: str,
    checkpoint: Path | None,
    concurrency: int,
    page_size: int | None,
    quiet: bool,
    job: str | None,
    status_only: bool,
    segments: Path | None,
    max_calls: int | None,
    window_slices: int,
    keep_segments: bool,
    slice_pages: int,
    slice_seconds: float,
    lease: float,
    dry_run: bool,
    offline: bool,
    as_json: bool,
    expect_events: int | None,
    monthly_quota: int | None,
) -> int:
    """Export every event of the sources to JSONL or .ics, resumably."""
    window = (_when(start, zone, "--start"), _when(end, zone, "--end"))
    _window(*window)
    redis_url: str | None = target["redis"]
    if job is not None and redis_url is None:
        raise click.UsageError("--job needs --redis URL (or WECAL_REDIS_URL): the jobs' Redis")
    if status_only:
        if redis_url is None or job is None:
            raise click.UsageError("--status needs --redis URL --job NAME")
        return _run_async(_job_status, redis_url, job, as_json)
    if offline and not dry_run:
        raise click.UsageError("--offline applies to --dry-run")
    if window_slices > 1 and ((job is None and not dry_run) or None in window):
        raise click.UsageError("--window-slices needs a distributed --job and --start/--end")
    if max_calls is not None and job is None and not dry_run and checkpoint is None:
        raise click.UsageError(
            "--max-calls needs --checkpoint PATH (or a distributed --job), "
            "so that the rerun resumes where the budget stopped it"
        )
    if dry_run:
        if expand and None in window:
            raise click.UsageError("--expand needs --start and --end")
        config = _build(**target, needs="nothing" if offline else "secret")
        return _run_async(
            _inside(config, _dry_run), config, window, expand, page_size, offline, as_json,
            expect_events, monthly_quota, window_slices,
        )  # fmt: skip
    if output is None:
        raise click.UsageError("Missing option '-o' / '--output'.")
    if fmt is None:
        fmt = "jsonl" if output == "-" else _FORMATS.get(Path(output).suffix.lower())
        if fmt is None:
            raise click.UsageError("cannot tell the format from -o; pass --format jsonl|ics")
    if output == "-" and checkpoint is not None:
        raise click.UsageError("--checkpoint needs an output file, not stdout")
    if expand and None in window:
        raise click.UsageError("--expand needs --start and --end")
    # A job's command plans and follows it; its workers read, with their own secret.
    config = _build(**target, quiet=quiet, needs="app" if job is not None else "secret")
    over = [
        f"{name} takes at most {PROVIDERS[name].max_page_size}"
        for name in config.clients
        if page_size is not None and page_size > PROVIDERS[name].max_page_size
    ]
    if over:
        anyio.run(config.aclose)
        raise click.UsageError(f"--page-size {page_size}: {'; '.join(over)}")
    if redis_url is not None and job is not None:
        return _distributed(
            config, window, expand, fmt, output, checkpoint, page_size, quiet, redis_url, job,
            segments, max_calls, window_slices, keep_segments,
            {"slice_pages": slice_pages, "slice_seconds": slice_seconds, "lease": lease},
        )  # fmt: skip
    options: dict[str, object] = {
        "--provider": config.label,
        **config.identity,
        "--start": window[0],
        "--end": window[1],
        "--expand": expand,
        "--page-size": page_size,
    }
    return _run_async(
        _inside(
            config,
            _export,
            config,
            window,
            expand,
            fmt,
            output,
            checkpoint,
            concurrency,
            page_size,
            quiet,
            options,
            max_calls,
        ),
        resume=_resume_hint(output, checkpoint),
    )


def _inside(
    config: _Config, fn: Callable[..., Awaitable[int]], *args: Any
) -> Callable[..., Awaitable[int]]:
    """``fn(*args, *more)`` run inside the config's shared state (``--redis``)."""

    async def run(*more: Any) -> int:
        async with config.running():
            return await fn(*args, *more)

    return run


def _resume_hint(output: str, checkpoint: Path | None) -> str:
    """What Ctrl-C leaves behind, and how to go on."""
    if checkpoint is not None:
        return (
            f"the export can be resumed: rerun the same command ({checkpoint} "
            "records what was written)"
        )
    if output == "-":
        return "the output is incomplete"
    return (
        f"{output} is incomplete and cannot be resumed: this run had no --checkpoint, "
        "so a rerun starts over (with --checkpoint PATH, a stopped run resumes where it "
        "stopped)"
    )


async def _export(
    config: _Config,
    window: tuple[datetime | None, datetime | None],
    expand: bool,
    fmt: str,
    output: str,
    checkpoint: Path | None,
    concurrency: int,
    page_size: int | None,
    quiet: bool,
    options: dict[str, object],
    max_calls: int | None = None,
) -> int:
    start, end = window

    def open_pages(source: Source, cursor: str | None) -> AsyncIterator[PageLike]:
        pager = config.paginator(source, start=start, end=end, expand=expand, page_size=page_size)
        # With a budget, no page is fetched ahead of the one the budget allowed.
        return pager.by_page(cursor=cursor, prefetch=0 if max_calls is not None else None)

    # A provider's sources share its app's rate limits: the ETA times them together.
    progress = Progress(groups={s.key: entry.name for s, entry in config.owner.items()})
    stdout = output == "-"
    target: Path | IO[bytes] = sys.stdout.buffer if stdout else Path(output)
    status = sys.stderr
    started = time.monotonic()
    failure: BaseException | None = None
    stopped: list[int] = []  # the signal that stopped the run
    try:
        with _display(progress, config, quiet=quiet, stream=status) as tick:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_refresh, tick)
                await tg.start(_stop_on_signals, tg.cancel_scope, stopped)
                try:
                    result = await export(
                        config.sources,
                        open_pages,
                        output=target,
                        fmt=fmt,
                        checkpoint=checkpoint,
                        concurrency=concurrency,
                        options=options,
                        progress=progress,
                        max_calls=max_calls,
                    )
                except (WecalError, OSError) as exc:
                    failure = exc  # raised below, not as a task group's ExceptionGroup
                finally:
                    tg.cancel_scope.cancel()
    finally:
        stats = config.stats
        with anyio.CancelScope(shield=True):
            await config.aclose()
    if stopped:
        status.write(_stopped_line(stopped[0], output, checkpoint) + "\n")
        return 128 + stopped[0]
    if isinstance(failure, OSError):
        line, _ = _error_line(failure)
        resume = " the same command to resume" if checkpoint is not None else ""
        # Only a full disk or a size limit wants room; a path the system
        # refuses (read-only, no permission, /proc) wants another path.
        full = failure.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        # The checkpoint, its lock and temp file are named after --checkpoint.
        about_checkpoint = checkpoint is not None and str(failure.filename or "").startswith(
            str(checkpoint)
        )
        if full:
            advice = "make room"
        elif about_checkpoint:
            advice = f"check the checkpoint path ({checkpoint}), its directory and permissions,"
        else:
            advice = "check the output path and its permissions"
        raise click.ClickException(f"{line}; {advice} and rerun{resume}") from failure
    if failure is not None:
        raise failure

    if result.already_done:
        status.write(
            f"wecal: this export is already complete ({result.events} events); "
            f"nothing to do. Delete {checkpoint} to export again.\n"
        )
        return 0
    if result.failed and len(result.failed) == len(result.sources):
        _report_failures(result, config, checkpoint, status, everything=True)
        return 1
    seconds = time.monotonic() - started
    if result.budget_spent:
        left = sum(1 for s in result.sources if s.error is None) - progress.done_sources
        status.write(
            f"wecal: stopped at the budget: {result.calls} listing calls spent of "
            f"--max-calls {max_calls}; {result.events} events in {output} so far, "
            f"{left} of {len(result.sources)} sources left. Rerun the same command "
            f"to go on ({checkpoint} records what was written)\n"
        )
        if result.failed:
            _report_failures(result, config, checkpoint, status, everything=False)
        return 1

    rate = progress.events / seconds if seconds > 0 else 0.0
    where = "stdout" if stdout else output
    status.write(
        f"wecal: exported {result.events} events ({progress.events} this run) from "
        f"{len(result.sources) - len(result.failed)} of {len(result.sources)} sources to "
        f"{where} in {seconds:.1f}s ({rate:.0f} events/s, {stats.retries} retries, "
        f"{stats.rate_limited} rate limits)\n"
    )
    if result.failed:
        _report_failures(result, config, checkpoint, status, everything=False)
        return 1
    return 0


#: Signals that stop an export the way Ctrl-C does: what is committed stays,
#: the locks are released, the process exits 128 + the signal's number.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


async def _stop_on_signals(
    scope: anyio.CancelScope,
    stopped: list[int],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """
    Cancel ``scope`` at the first of :data:`_STOP_SIGNALS`.

    Cancelling lets a commit in progress finish (it runs in a worker thread
    that is never abandoned) and every ``finally`` run: the output ends at its
    last commit, the checkpoint is that commit's, the locks are released. A
    process whose default action is to die (SIGTERM, SIGHUP) would lose the
    pages read since the last commit and leave its lock files behind.
    """
    receiver = anyio.open_signal_receiver(*_STOP_SIGNALS)
    try:
        signals = receiver.__enter__()
    except (ValueError, RuntimeError):  # not in the main thread: no handlers to install
        task_status.started()
        return
    try:
        task_status.started()
        async for signum in signals:
            stopped.append(int(signum))
            scope.cancel()
            return
    finally:
        receiver.__exit__(None, None, None)


def _stopped_line(signum: int, output: str, checkpoint: Path | None) -> str:
    """What a stopped export says: the signal (but Ctrl-C's), and how to go on."""
    name = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
    return f"wecal: interrupted{name}; {_resume_hint(output, checkpoint)}"


def _cause(exc: BaseException | None) -> str | None:
    """What makes two failures the same failure: the error class and the provider's code."""
    if exc is None:
        return None
    return f"{type(exc).__name__}:{getattr(exc, 'code', '')}"


def _transient(exc: BaseException | None) -> bool:
    """Whether trying again later can help (network, throttling, a provider's 5xx)."""
    if isinstance(exc, TransportError | RateLimitError):
        return True
    return isinstance(exc, ProviderError) and (exc.http_status or 0) >= 500


def _report_failures(
    result: ExportResult,
    config: _Config,
    checkpoint: Path | None,
    out: IO[str],
    *,
    everything: bool,
) -> None:
    """The failed sources: one line when they failed alike, else a line each; a hint if useful."""
    failed = result.failed
    causes = {_cause(f.exception) or f.error for f in failed}
    if len(failed) == 1:
        f = failed[0]
        out.write(f"wecal: error: source {config.name(f.source)} failed: {_line(f.error or '')}\n")
    elif len(causes) == 1:
        scope = f"all {len(failed)} sources" if everything else f"{len(failed)} source(s)"
        names = ", ".join(config.name(f.source) for f in failed)
        out.write(f"wecal: error: {scope} failed ({names}): {_line(failed[0].error or '')}\n")
    else:
        for f in failed:
            out.write(
                f"wecal: error: source {config.name(f.source)} failed: {_line(f.error or '')}\n"
            )
    if not any(_transient(f.exception) for f in failed):
        return  # a rerun would fail the same way: no resume advice
    if checkpoint is not None:
        out.write("wecal: rerun the same command to retry them; the checkpoint keeps the rest\n")
    elif not everything:
        out.write(
            "wecal: rerun to retry them; this run had no --checkpoint, so a rerun reads "
            "every source again (with --checkpoint PATH, a rerun retries only what failed)\n"
        )
    else:
        out.write("wecal: the failure may be temporary: rerun the same command later\n")


async def _refresh(tick: Callable[[], None]) -> None:
    while True:
        tick()
        await anyio.sleep(0.25)


@contextlib.contextmanager
def _display(
    progress: Progress, config: _Config, *, quiet: bool, stream: IO[str]
) -> Iterator[Callable[[], None]]:
    """A rich live table on a terminal, a plain line every few seconds otherwise."""
    if quiet:
        yield lambda: None
        return
    started = time.monotonic()

    def counters() -> str:
        stats = config.stats
        done = progress.done_sources + progress.failed_sources
        line = (
            f"{progress.events} events, {progress.pages} pages, "
            f"{done}/{progress.total_sources} sources, {stats.retries} retries, "
            f"{stats.rate_limited} rate limits"
        )
        left = progress.remaining_seconds(time.monotonic() - started)
        if left is not None and done < progress.total_sources:
            line += f", ETA ~{left:.0f}s"
        return line

    if not stream.isatty():
        last = [time.monotonic()]

        def plain() -> None:
            now = time.monotonic()
            if now - last[0] >= 2.0:
                last[0] = now
                stream.write(f"wecal: {counters()}\n")
                stream.flush()

        yield plain
        return

    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    def render() -> Table:
        table = Table(title=f"wecal export — {config.label}", expand=False)
        table.add_column("source")
        table.add_column("events", justify="right")
        for source in config.sources:
            table.add_row(config.name(source), str(progress.per_source.get(source.key, 0)))
        table.caption = counters()
        return table

    with Live(render(), console=Console(file=stream), transient=False) as live:
        yield lambda: live.update(render())
        live.update(render())


# --- distributed jobs ----------------------------------------------------------------------


def _job_spec(
    config: _Config,
    job: str,
    window: tuple[datetime | None, datetime | None],
    expand: bool,
    fmt: str,
    page_size: int | None,
    segments: Path,
    window_slices: int = 1,
    output: Path | None = None,
    keep_segments: bool = False,
    knobs: dict[str, Any] | None = None,
) -> Any:
    from .export.distributed import JobSpec, UnitSource

    if config.base_url is None and config.label.startswith("sandbox"):
        raise click.UsageError(
            "workers cannot reach the in-process --sandbox: serve it with 'wecal sandbox' "
            "and pass its URL with --base-url"
        )
    start, end = window
    knobs = {"slice_pages": 20, "slice_seconds": 20.0, "lease": 30.0, **(knobs or {})}
    return JobSpec(
        job=job,
        sources=tuple(
            UnitSource(
                entry.name,
                config.apps[entry.name],
                source,
                window_slices if entry.window_slices else 1,
            )
            for source, entry in config.owner.items()
        ),
        base_url=config.base_url,
        start=None if start is None else start.isoformat(),
        end=None if end is None else end.isoformat(),
        expand=expand,
        page_size=page_size,
        format=fmt,
        segments=os.path.abspath(segments),
        output="" if output is None else os.path.abspath(output),
        keep_segments=keep_segments,
        slice_pages=knobs["slice_pages"],
        slice_seconds=knobs["slice_seconds"],
        lease=knobs["lease"],
    )


def _distributed(
    config: _Config,
    window: tuple[datetime | None, datetime | None],
    expand: bool,
    fmt: str,
    output: str,
    checkpoint: Path | None,
    page_size: int | None,
    quiet: bool,
    redis_url: str,
    job: str,
    segments: Path | None,
    max_calls: int | None,
    window_slices: int = 1,
    keep_segments: bool = False,
    knobs: dict[str, Any] | None = None,
) -> int:
    anyio.run(config.aclose)  # the workers read the sources, not this process
    if output == "-":
        raise click.UsageError("a distributed job writes a file: -o PATH, not stdout")
    if checkpoint is not None:
        raise click.UsageError("a distributed job keeps its progress in Redis: drop --checkpoint")
    target = Path(output)
    folder = segments if segments is not None else target.with_name(target.name + ".segments")
    try:
        spec = _job_spec(
            config, job, window, expand, fmt, page_size, folder, window_slices, target,
            keep_segments, knobs,
        )  # fmt: skip
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None
    return _run_async(
        _run_job,
        spec,
        target,
        redis_url,
        max_calls,
        quiet,
        resume=f"job {job} goes on on the workers; rerun the same command to follow it "
        "and write the output",
    )


async def _run_job(
    spec: Any, output: Path, redis_url: str, max_calls: int | None, quiet: bool
) -> int:
    from arq.connections import RedisSettings, create_pool

    from .export import distributed
    from .export.arq import ArqQueue

    status = sys.stderr
    started = time.monotonic()
    async with distributed.Coordinator(redis_url) as coord:
        spec = await coord.create(spec)
        # Written by an earlier run (a finished job's rerun), or not yet.
        written_before = bool(await coord.final(spec.job))
        await anyio.to_thread.run_sync(
            functools.partial(Path(spec.segments).mkdir, parents=True, exist_ok=True)
        )
        await coord.retry_failed(spec.job)
        await coord.set_budget(spec.job, max_calls)
        pool = await create_pool(RedisSettings.from_dsn(redis_url))
        try:
            queue = ArqQueue(pool)
            await distributed.enqueue(coord, queue, spec.job)
            last_line = last_reconcile = time.monotonic()
            outage: list[float] = []
            while True:
                state = await _riding_out(lambda: coord.status(spec.job), outage, status)
                now = time.monotonic()
                if state.finished or _budget_spent(state):
                    break
                if not quiet and now - last_line >= 2.0:
                    last_line = now
                    status.write(f"wecal: {state}\n")
                    status.flush()
                if now - last_reconcile >= 5.0:
                    last_reconcile = now
                    await _riding_out(
                        lambda: distributed.reconcile(coord, queue, spec.job), outage, status
                    )
                await anyio.sleep(0.25)
        finally:
            await pool.aclose()
        seconds = time.monotonic() - started
        if state.complete:
            wrote = await _riding_out(
                lambda: distributed.finalize(coord, spec.job, output), [], status
            )
            status.write(
                _job_done_line(spec.job, state, output, seconds, wrote, written_before) + "\n"
            )
            return 0
        failed = [u for u in state.units if u.state == "failed"]
        for unit in failed:
            source = unit.unit.source
            status.write(
                f"wecal: error: {source.provider} {source.source.key} failed: "
                f"{_line(unit.error or '')}\n"
            )
        if failed:
            status.write("wecal: rerun the same command to retry the failed units\n")
            return 1
        status.write(
            f"wecal: job {spec.job} stopped: {state.calls} listing calls spent of the "
            f"budget of {state.budget}; {state.count('done')} of {len(state.units)} units "
            "done. Rerun the same command to go on\n"
        )
        return 1


def _job_done_line(
    job: str, state: Any, output: Path, seconds: float, wrote: bool, written_before: bool
) -> str:
    """
    What a complete job's command says of its output, true on every run: this
    command wrote it, a worker did (the one that finished the last unit
    finalizes too, and may beat the command to it), or an earlier run did.
    """
    what = f"{state.events} events from {len(state.units)} units"
    if wrote:
        how = f"wrote {output}"
    elif written_before:
        return (
            f"wecal: job {job} was already complete: {what}, written to {output} by an "
            f"earlier run and unchanged since; nothing read or written again "
            f"({state.calls} listing calls in all)"
        )
    else:
        how = f"a worker wrote {output}"
    return f"wecal: job {job}: {what}; {how} ({seconds:.1f}s, {state.calls} listing calls)"


def _budget_spent(state: Any) -> bool:
    """The budget is spent and no unit is being run: nothing moves until a rerun."""
    return bool(
        state.budget is not None
        and state.calls >= state.budget
        and not any(u.leased for u in state.units)
    )


async def _job_status(redis_url: str, job: str, as_json: bool) -> int:
    from .export import distributed

    async with distributed.Coordinator(redis_url) as coord:
        state = await coord.status(job)
        final = await coord.final(job)
    if as_json:
        import json

        sys.stdout.write(
            json.dumps(
                {
                    "job": job,
                    "units": len(state.units),
                    "done": state.count("done"),
                    "failed": state.count("failed"),
                    "running": state.count("running"),
                    "events": state.events,
                    "pages": state.pages,
                    "calls": state.calls,
                    "budget": state.budget,
                    "complete": state.complete,
                    "output": final.get("path"),
                },
                indent=2,
            )
            + "\n"
        )
    else:
        sys.stdout.write(f"{state}\n")
        if final:
            sys.stdout.write(f"  written to {final['path']} ({int(final['size']):,} bytes)\n")
        for unit in state.units:
            if unit.state == "failed":
                sys.stdout.write(f"  failed: {unit.unit.source.key}: {unit.error}\n")
    return 0


@contextlib.asynccontextmanager
async def export_pages(
    spec: Any, shared: Any, *, max_wait: float | None = None, monthly_quota: int | None = None
) -> AsyncIterator[Any]:
    """
    What a worker reads a job's sources with (``WorkerOptions.pages`` default): one
    client per provider, on the shared state, credentials from this process's
    environment (``WECAL_WECOM_CORP_ID``...), never from Redis.

    ``max_wait`` (default ``WECAL_MAX_WAIT``, else 5 s): a rate slot, a
    provider block (WeCom's 45009) or a Retry-After further away raises
    :class:`~wecal.RateLimitError` at once, and the unit is deferred.
    ``monthly_quota`` (default ``WECAL_MONTHLY_QUOTA``): the app's quota.
    """
    clients: dict[str, CalendarProvider] = {}
    if max_wait is None:
        max_wait = float(os.environ.get("WECAL_MAX_WAIT", "5"))
    if monthly_quota is None:
        quota = os.environ.get("WECAL_MONTHLY_QUOTA")
        monthly_quota = int(quota) if quota else None
    limits = RateLimitConfig(max_wait=max_wait, monthly_quota=monthly_quota)
    # A block the provider sets (WeCom 45009: 60 s) longer than max_wait is
    # raised, not slept in the worker: the unit gives its slot back.
    retry = RetryConfig(max_retry_after=max_wait)

    def client_for(provider: str, app: str) -> CalendarProvider:
        if provider not in clients:
            entry = PROVIDERS.get(provider)
            if entry is None:
                raise ValidationError(f"job {spec.job}: unknown provider {provider!r}")
            app_id = os.environ.get(entry.app_id.env)
            secret = os.environ.get(entry.secret.env)
            if not app_id or not secret:
                raise ConfigurationError(
                    f"this worker has no {entry.title} credentials: set "
                    f"{entry.app_id.env} and {entry.secret.env}"
                )
            if app_id != app:
                raise ConfigurationError(
                    f"job {spec.job} reads app {app!r} of {entry.title}; this worker's "
                    f"{entry.app_id.env} names another"
                )
            clients[provider] = entry.client(
                app_id,
                secret,
                base_url=spec.base_url,
                shared=shared,
                rate_limit=limits,
                retry=retry,
            )
        return clients[provider]

    start = None if spec.start is None else datetime.fromisoformat(spec.start)
    end = None if spec.end is None else datetime.fromisoformat(spec.end)

    def open_pages(source: Any, cursor: str | None) -> AsyncIterator[PageLike]:
        client = client_for(source.provider, source.app)
        first, last = start, end
        if source.window is not None:  # a slice of the job's window
            first, last = (datetime.fromisoformat(t) for t in source.window)
        pager = PROVIDERS[source.provider].list_source(
            client,
            source.source.id,
            start=first,
            end=last,
            expand=spec.expand,
            page_size=spec.page_size,
        )
        return pager.by_page(cursor=cursor, prefetch=0)

    try:
        yield open_pages
    finally:
        for client in clients.values():
            with anyio.CancelScope(shield=True):
                await client.aclose()


def _worker_apps() -> dict[tuple[str, str], list[str]]:
    """Each credential pair a worker reads (its variables) → the provider titles using it."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for entry in PROVIDERS.values():
        pairs.setdefault((entry.app_id.env, entry.secret.env), []).append(entry.title)
    return pairs


def _worker_help() -> str:
    pairs = "; ".join(
        f"{' and '.join(titles)}: {app} and {secret}"
        for (app, secret), titles in _worker_apps().items()
    )
    return (
        "Run distributed export units (arq); start one or more on any machine.\n\n"
        f"A unit reads with the credentials in this process's environment ({pairs}), "
        "never with any from Redis or the command that started the job."
    )


def _worker_credentials_line() -> str:
    """What a starting worker can read, by app id (never a secret), or a warning that it can't."""
    have, missing = [], []
    for (app_env, secret_env), titles in _worker_apps().items():
        app_id = os.environ.get(app_env)
        if app_id and os.environ.get(secret_env):
            have.append(f"{' and '.join(titles)} as app {app_id}")
        else:
            missing.append(f"{app_env} and {secret_env}")
    if have:
        return f"wecal worker: reads {'; '.join(have)}\n"
    return (
        "wecal worker: warning: no provider credentials in the environment, so every unit "
        f"will fail; set {' or '.join(missing)} and restart\n"
    )


@main.command("worker", help=_worker_help())
@click.option(
    "--redis",
    "redis_url",
    required=True,
    envvar="WECAL_REDIS_URL",
    show_envvar=True,
    callback=_redis_url,
    help="The Redis the jobs are on (redis://host:port/db).",
)
@click.option(
    "--prefix",
    default="wecal",
    show_default=True,
    envvar="WECAL_REDIS_PREFIX",
    show_envvar=True,
    help="Key prefix of the jobs and shared state on that Redis.",
)
@click.option(
    "--jobs",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    envvar="WECAL_WORKER_JOBS",
    show_envvar=True,
    help="Units this worker runs at the same time.",
)
@click.option(
    "--tenant-concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1),
    envvar="WECAL_TENANT_CONCURRENCY",
    show_envvar=True,
    help="Units of one app run at once across all workers; a unit finding them all "
    "taken is deferred.",
)
@click.option(
    "--max-wait",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    envvar="WECAL_MAX_WAIT",
    show_envvar=True,
    help="Seconds a unit may wait for a rate slot or a provider block; longer, it is "
    "deferred until then and its worker slot given back.",
)
@click.option(
    "--monthly-quota",
    type=click.IntRange(1),
    envvar="WECAL_MONTHLY_QUOTA",
    show_envvar=True,
    help="The app's calls per month ("
    + "; ".join(dict.fromkeys(e.monthly_quota for e in PROVIDERS.values() if e.monthly_quota))
    + "); past it units fail.",
)
@click.option(
    "--reconcile-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    envvar="WECAL_RECONCILE_SECONDS",
    show_envvar=True,
    help="How often this worker re-enqueues units neither done, leased nor queued.",
)
@click.option(
    "--pages",
    default="wecal.cli:export_pages",
    show_default=True,
    envvar="WECAL_EXPORT_PAGES",
    show_envvar=True,
    help="module:function building the clients a unit reads with (credentials from "
    "the environment).",
)
@_debug_option
def worker_command(
    *,
    redis_url: str,
    prefix: str,
    jobs: int,
    tenant_concurrency: int,
    max_wait: float,
    monthly_quota: int | None,
    reconcile_seconds: float,
    pages: str,
) -> int:
    """Run distributed export units (arq); the help text is :func:`_worker_help`'s."""
    import logging

    from .export.arq import WorkerOptions, run

    logging.basicConfig(
        level=logging.INFO if _debug[0] else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # wecal's INFO lines — a retry (what failed, why, when the next attempt
    # goes), a Redis outage's calls counted back — show without --debug;
    # arq's line per job started and ended stays behind it.
    logging.getLogger("wecal").setLevel(logging.INFO)
    options = WorkerOptions(
        redis_url=redis_url,
        prefix=prefix,
        pages=pages,
        jobs=jobs,
        tenant_concurrency=tenant_concurrency,
        max_wait=max_wait,
        monthly_quota=monthly_quota,
        reconcile_seconds=reconcile_seconds,
    )
    sys.stderr.write(
        f"wecal worker: waiting for jobs on {_mask_userinfo(redis_url)}, {jobs} units at a "
        "time (Ctrl-C stops it); start the job with 'wecal export --redis URL --job NAME ...'\n"
    )
    sys.stderr.write(_worker_credentials_line())
    sys.stderr.flush()
    run(options)  # Redis unreachable past its patience: one line (_error_line)
    return 0


# --- dry run -------------------------------------------------------------------------------


async def _dry_run(
    config: _Config,
    window: tuple[datetime | None, datetime | None],
    expand: bool,
    page_size: int | None,
    offline: bool,
    as_json: bool,
    expect_events: int | None,
    monthly_quota: int | None,
    window_slices: int = 1,
) -> int:
    """One first page per source (none offline): units, calls, time, quota share."""
    import json

    start, end = window
    rows: list[dict[str, Any]] = []
    try:
        for source, entry in config.owner.items():
            size = page_size or entry.max_page_size
            # The probe asks for the provider's largest page: one call then
            # counts a source of up to that many events exactly, whatever
            # --page-size the export itself will use.
            probe = config.paginator(
                source, start=start, end=end, expand=expand, page_size=entry.max_page_size
            )
            first: int | None = None
            last = False
            # Calls a listing makes besides its pages (DingTalk v1.0 asks for
            # the events already running at a window's start first): what the
            # probe sent, less its one page and any token fetch.
            overhead = 0
            if not offline:
                before = _sent(config)
                pages = probe.by_page(prefetch=0)
                try:
                    async for page in pages:
                        first, last = len(page.items), page.cursor is None
                        break
                finally:
                    await pages.aclose()
                if first is None:
                    first, last = 0, True
                overhead = max(0, _sent(config) - before - 1)
                # Offset paging ends on an empty page, but a page shorter than
                # asked for already says the next one is that empty page.
                last = last or (probe.kind == "offset" and first < entry.max_page_size)
            if last:
                events, exact = first or 0, True
            elif expect_events is not None:
                events, exact = max(expect_events, first or 0), False
            else:  # bigger than the largest page: assume two of them
                events, exact = 2 * max(first or 0, entry.max_page_size), False
            # Window slices (a job's --window-slices): each slice is a listing
            # of its own, with its own calls besides the pages, and its last
            # page is on average half full (the events spread unevenly).
            units = window_slices if entry.window_slices else 1
            calls = _listing_calls(events, size, probe.kind) + overhead
            if units > 1:
                sliced_pages = max(units, -(-(2 * events + units * size) // (2 * size)))
                calls = sliced_pages + units * overhead
            rows.append(
                {
                    "provider": entry.name,
                    "source": source.key,
                    "units": units,
                    "events": events,
                    "calls": calls,
                    "exact": exact and units == 1,
                }
            )
    finally:
        await config.aclose()
    apis: dict[str, dict[str, Any]] = {}
    for row in rows:
        api = apis.setdefault(row["provider"], {"units": 0, "calls": 0, "events": 0})
        api["units"] += row["units"]
        api["calls"] += row["calls"]
        api["events"] += row["events"]
    for name, api in apis.items():
        api["calls"] += 1  # the app's access token
        rate = getattr(type(config.clients[name]), "dialect").default_rate  # noqa: B009
        api["rate_per_s"] = rate
        api["seconds"] = round(api["calls"] / rate, 1)
        api["quota_share"] = (
            None if monthly_quota is None else round(api["calls"] / monthly_quota, 4)
        )
    plan = {
        "units": sum(row["units"] for row in rows),
        "calls": sum(a["calls"] for a in apis.values()),
        "seconds": max((a["seconds"] for a in apis.values()), default=0.0),
        "apis": apis,
        "sources": rows,
        "offline": offline,
    }
    if as_json:
        sys.stdout.write(json.dumps(plan, indent=2) + "\n")
        return 0
    out = sys.stdout
    out.write(f"{'api':<18}{'units':>7}{'calls':>9}{'events':>10}{'at limit':>11}{'quota':>9}\n")
    for name, api in apis.items():
        share = "-" if api["quota_share"] is None else f"{api['quota_share']:.1%}"
        out.write(
            f"{name:<18}{api['units']:>7}{api['calls']:>9}{api['events']:>10}"
            f"{api['seconds']:>10.1f}s{share:>9}\n"
        )
    guessed = sum(1 for r in rows if not r["exact"])
    out.write(
        f"{plan['units']} units, ~{plan['calls']} calls, ~{plan['seconds']:.1f}s at the "
        f"providers' limits; nothing written"
        + (f" ({guessed} sources sized by assumption)" if guessed else "")
        + "\n"
    )
    return 0


def _sent(config: _Config) -> int:
    """Requests the config's clients sent so far, token fetches left out."""
    total = 0
    for client in config.clients.values():
        if isinstance(client, BaseClient):
            for core in client._cores.values():
                total += core.stats.requests - core.tokens.fetches
    return total


def _listing_calls(events: int, size: int, kind: str) -> int:
    """Calls to list ``events`` at ``size`` a page (offset paging ends on an empty page)."""
    pages = -(-events // size)
    return pages + 1 if kind == "offset" else max(1, pages)


# --- events list -----------------------------------------------------------------------


@main.group("events", short_help="Look at events (events list).")
def events_group() -> None:
    """Look at events: `wecal events list` (the earliest of a window, as a table)."""


@events_group.command("list")
@_target_options
@click.option("--start", help=f"From: {_WHEN} (default: now).")
@click.option("--end", help=f"Until, exclusive: {_WHEN} (default: 30 days after --start).")
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Show the N earliest events of the window, across all the sources.",
)
@_tz_option
@_debug_option  # last in --help, as on every command
def events_list(
    *,
    target: dict[str, Any],
    start: str | None,
    end: str | None,
    limit: int,
    zone: tzinfo,
) -> int:
    """A table of the earliest events of the sources (occurrences expanded)."""
    begin = _when(start, zone, "--start") or datetime.now(zone)
    until = _when(end, zone, "--end") or begin + timedelta(days=30)
    _window(begin, until)
    config = _build(**target)
    return _run_async(_inside(config, _list), config, begin, until, limit, zone)


async def _list(config: _Config, start: datetime, end: datetime, limit: int, zone: tzinfo) -> int:
    # A max-heap of the ``limit`` earliest seen so far, across every source.
    earliest: list[tuple[float, int, str, Event]] = []
    failures: dict[Source, WecalError] = {}
    counter = iter(range(1 << 62))

    def when(event: Event) -> datetime:
        if isinstance(event.start, datetime):
            return event.start
        # An all-day event starts at midnight where it is shown.
        return datetime(event.start.year, event.start.month, event.start.day, tzinfo=zone)

    async def read(source: Source) -> None:
        try:
            async for event in config.paginator(source, start=start, end=end, expand=True):
                key = (-when(event).timestamp(), -next(counter), config.name(source), event)
                if len(earliest) < limit:
                    heapq.heappush(earliest, key)
                elif key > earliest[0]:
                    heapq.heapreplace(earliest, key)
        except WecalError as exc:
            failures[source] = exc

    try:
        async with anyio.create_task_group() as tg:
            for source in config.sources:
                tg.start_soon(read, source)
    finally:
        await config.aclose()
    rows = sorted(earliest, reverse=True)

    from rich.console import Console
    from rich.table import Table

    # The zone's name first: an abbreviation alone is ambiguous (CST is China's
    # and America's Central).
    abbreviation = datetime.now(zone).tzname()
    zone_name = str(zone) if abbreviation in (None, str(zone)) else f"{zone}, {abbreviation}"
    title = (
        f"{len(config.sources)} source(s): {start.astimezone(zone):%Y-%m-%d %H:%M} → "
        f"{end.astimezone(zone):%Y-%m-%d %H:%M} (times in {zone_name})"
    )
    empty = "no events in this window (another: --start / --end)" if not rows else None
    table = Table(title=title, caption=empty)
    for name in ("start", "end", "summary", "location", "status"):
        table.add_column(name)
    # A source is what to pass to --calendar/--user next: folded onto more
    # lines when the terminal is narrow, never cut to "user:iiiPC…".
    table.add_column("source", overflow="fold")
    for _, _, source_name, event in rows:
        table.add_row(
            _show(event.start, zone),
            _show(event.end, zone),
            event.summary,
            event.location,
            event.status.value,
            source_name,
        )
    everything = len(failures) == len(config.sources)
    if not everything:  # when every source failed there is no table to show
        Console().print(table)
    if len(failures) > 1 and len({_cause(exc) for exc in failures.values()}) == 1:
        # Failed alike (as export says it): one line naming them, the first's error.
        scope = f"all {len(failures)} sources" if everything else f"{len(failures)} sources"
        names = ", ".join(config.name(source) for source in failures)
        exc = next(iter(failures.values()))
        sys.stderr.write(
            f"wecal: error: {scope} failed ({names}): {_line(f'{type(exc).__name__}: {exc}')}\n"
        )
        return 1
    for source, exc in failures.items():
        sys.stderr.write(
            f"wecal: error: source {config.name(source)} failed: "
            f"{_line(f'{type(exc).__name__}: {exc}')}\n"
        )
    return 1 if failures else 0


def _show(moment: Any, zone: tzinfo) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return f"{moment:%Y-%m-%d} (all day)"


# --- sandbox ---------------------------------------------------------------------------


def _sandbox_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--port",
            default=8765,
            show_default=True,
            type=click.IntRange(*LIMITS["port"]),
            help="The port to serve on (0: any free one; the banner prints the URL).",
        ),
        click.option(
            "--host",
            default="127.0.0.1",
            show_default=True,
            help="The address to serve on (0.0.0.0: reachable from other machines).",
        ),
        *_demo_options(sandbox_prefix=False),
        click.option(
            "--sources",
            default=DEFAULTS.sources,
            show_default=True,
            type=click.IntRange(*LIMITS["sources"]),
            help="Calendars / users per provider.",
        ),
        _debug_option,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command("sandbox")
@_sandbox_options
def sandbox_command(
    port: int, host: str, seed: int, sources: int, size: int, latency: float, faults: str
) -> int:
    """Serve the provider emulator with demo data; prints its URL, credentials and ids."""
    from .sandbox._demo import DemoSettings, serve_demo

    settings = DemoSettings(seed=seed, sources=sources, size=size, latency=latency, faults=faults)
    try:
        return serve_demo(settings, host=host, port=port, out=sys.stdout, err=sys.stderr)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":  # pragma: no cover
    main()
