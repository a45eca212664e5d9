"""
The ``wecal`` command (``pip install 'wecal[cli]'``).

::

    wecal export --sandbox -o demo.ics              # no credentials: the embedded emulator
    wecal export --provider wecom --calendar wcjgew...AAA -o out.jsonl --checkpoint out.ckpt
    wecal events list --provider dingtalk-legacy --user 123134568
    wecal sandbox --port 8765

Credentials come from flags or the environment (``WECAL_WECOM_CORP_ID``,
``WECAL_WECOM_SECRET``, ``WECAL_DINGTALK_APP_KEY``, ``WECAL_DINGTALK_APP_SECRET``)
and are never printed.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

try:
    import click
except ImportError:  # pragma: no cover - exercised only without the extra
    sys.stderr.write("wecal: the command line needs the cli extra: pip install 'wecal[cli]'\n")
    raise SystemExit(2) from None

import anyio
import httpx

from . import __version__
from ._client import BaseClient
from ._http import CallStats
from ._tokens import MemoryTokenStore
from .errors import WecalError
from .export import PageLike, Progress, Source, export, parse_when
from .paging import Paginator
from .providers._common import CalendarProvider
from .providers._registry import PROVIDERS, Credential, ProviderEntry

__all__ = ["main"]

_FORMATS = {".ics": "ics", ".ical": "ics", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


class _Config:
    """What an export or listing talks to: one client per provider, and their sources."""

    def __init__(self) -> None:
        self.clients: dict[str, CalendarProvider] = {}
        self.owner: dict[Source, ProviderEntry] = {}
        self.label = ""

    @property
    def sources(self) -> list[Source]:
        return list(self.owner)

    def add(self, provider: ProviderEntry, client: CalendarProvider, ids: Sequence[str]) -> None:
        self.clients[provider.name] = client
        for ident in ids:
            self.owner.setdefault(Source(provider.source_kind, ident), provider)

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
    ) -> Paginator[Any]:
        provider = self.owner.get(source)
        if provider is None:
            raise click.UsageError(f"no client for source {source.key}")
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


_KINDS = ("calendar", "user")


def _parse_sources(
    provider: ProviderEntry,
    calendars: Sequence[str],
    users: Sequence[str],
    sources_file: Path | None,
) -> list[Source]:
    items = [Source("calendar", c) for c in calendars] + [Source("user", u) for u in users]
    if sources_file is not None:
        for n, line in enumerate(sources_file.read_text(encoding="utf-8").splitlines(), 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            kind, sep, ident = text.partition(":")
            if sep and kind in _KINDS:
                items.append(Source(kind, ident.strip()))
            elif sep and kind not in _KINDS and " " not in kind:
                raise click.BadParameter(
                    f"line {n}: use 'calendar:ID', 'user:ID' or a bare ID", param_hint="--sources"
                )
            else:
                items.append(Source(provider.source_kind, text))
    return list(dict.fromkeys(items))


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
) -> _Config:
    config = _Config()
    if sandbox:
        try:
            from .sandbox import Sandbox
            from .sandbox._demo import demo, sandbox_clients
        except ImportError as exc:  # pragma: no cover - the cli extra pulls the sandbox in
            raise click.UsageError(f"--sandbox needs the sandbox extra ({exc})") from None
        emulator = Sandbox(seed=seed)
        demo_sources = demo(emulator, seed=seed, sources=3, size=size)
        transport = httpx.ASGITransport(app=emulator.app)
        for name, client in sandbox_clients(
            base_url="http://sandbox", transport=transport, token_store=MemoryTokenStore()
        ).items():
            config.add(PROVIDERS[name], client, demo_sources.get(name, ()))
        config.label = f"sandbox (seed {seed})"
        return config

    if provider is None:
        raise click.UsageError(f"choose --sandbox or --provider {'|'.join(PROVIDERS)}")
    entry = PROVIDERS[provider]
    sources = _parse_sources(entry, calendars, users, sources_file)
    if not sources:
        raise click.UsageError("name at least one source: --calendar, --user or --sources FILE")
    app_id = credentials.get(_param(entry.app_id))
    secret = credentials.get(_param(entry.secret))
    if not app_id or not secret:
        raise click.UsageError(
            f"{entry.title} needs {entry.app_id.option} and {entry.secret.option} "
            f"(or {entry.app_id.env} / {entry.secret.env})"
        )
    wrong = [s.key for s in sources if s.kind != entry.source_kind]
    if wrong:
        raise click.UsageError(
            f"{provider} cannot export {', '.join(wrong)} "
            f"({entry.title} lists by {entry.source_kind}: use --{entry.source_kind})"
        )
    config.add(entry, entry.client(app_id, secret, base_url=base_url), [s.id for s in sources])
    config.label = provider
    return config


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
    "calendars",
    "users",
    "sources_file",
    "sandbox_seed",
    "sandbox_size",
)


def _source_help(kind: str) -> str:
    names = ", ".join(e.source_help for e in PROVIDERS.values() if e.source_kind == kind)
    return f"{names} (repeatable)."


def _credential_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--sandbox", is_flag=True, help="Use the embedded emulator with demo data."),
        click.option("--provider", type=click.Choice(list(PROVIDERS)), help="Real provider."),
        *(
            click.option(c.option, envvar=c.env, help=c.help, show_envvar=False)
            for c in _credentials()
        ),
        click.option("--base-url", help="Another API host (private deployment, sandbox)."),
        click.option("--calendar", "calendars", multiple=True, help=_source_help("calendar")),
        click.option("--user", "users", multiple=True, help=_source_help("user")),
        click.option(
            "--sources",
            "sources_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="File of sources, one per line (calendar:ID, user:ID or a bare ID).",
        ),
        click.option("--sandbox-seed", default=0, show_default=True, help="Demo data seed."),
        click.option(
            "--sandbox-size", default=120, show_default=True, help="Demo events per source."
        ),
    ]

    @functools.wraps(fn)
    def packed(**kwargs: Any) -> Any:
        target = {name: kwargs.pop(name) for name in _TARGET_OPTIONS}
        target["credentials"] = {_param(c): kwargs.pop(_param(c)) for c in _credentials()}
        target["seed"], target["size"] = target.pop("sandbox_seed"), target.pop("sandbox_size")
        return fn(target=target, **kwargs)

    wrapped: Callable[..., Any] = packed
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
@click.version_option(__version__, prog_name="wecal")
def main() -> None:
    """wecal: WeCom and DingTalk calendars, normalized."""


@main.command("export")
@_credential_options
@click.option("--start", callback=_when, help="Window start (ISO date or datetime; UTC if naive).")
@click.option("--end", callback=_when, help="Window end, exclusive.")
@click.option("--expand", is_flag=True, help="One event per occurrence (needs --start/--end).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "ics"]),
    help="Output format (default: from the -o extension).",
)
@click.option("-o", "--output", required=True, help="Output file, or - for stdout.")
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Progress file: rerun the same command with it to resume.",
)
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--page-size",
    type=click.IntRange(1, max(e.max_page_size for e in PROVIDERS.values())),
    help="Events per request (default: the provider's; "
    + ", ".join(f"{e.name} ≤ {e.max_page_size}" for e in PROVIDERS.values())
    + ").",
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the final line.")
def export_command(
    *,
    target: dict[str, Any],
    start: datetime | None,
    end: datetime | None,
    expand: bool,
    fmt: str | None,
    output: str,
    checkpoint: Path | None,
    concurrency: int,
    page_size: int | None,
    quiet: bool,
) -> None:
    """Export every event of the sources to JSONL or .ics, resumably."""
    if fmt is None:
        fmt = "jsonl" if output == "-" else _FORMATS.get(Path(output).suffix.lower())
        if fmt is None:
            raise click.UsageError("cannot tell the format from -o; pass --format jsonl|ics")
    if output == "-" and checkpoint is not None:
        raise click.UsageError("--checkpoint needs an output file, not stdout")
    if expand and (start is None or end is None):
        raise click.UsageError("--expand needs --start and --end")
    config = _build(**target)
    code = anyio.run(
        _export,
        config,
        start,
        end,
        expand,
        fmt,
        output,
        checkpoint,
        concurrency,
        page_size,
        quiet,
    )
    raise SystemExit(code)


async def _export(
    config: _Config,
    start: datetime | None,
    end: datetime | None,
    expand: bool,
    fmt: str,
    output: str,
    checkpoint: Path | None,
    concurrency: int,
    page_size: int | None,
    quiet: bool,
) -> int:
    def open_pages(source: Source, cursor: str | None) -> AsyncIterator[PageLike]:
        pager = config.paginator(source, start=start, end=end, expand=expand, page_size=page_size)
        return pager.by_page(cursor=cursor)

    progress = Progress()
    stdout = output == "-"
    target: Path | IO[bytes] = sys.stdout.buffer if stdout else Path(output)
    options = {
        "--provider": config.label,
        "--start": start,
        "--end": end,
        "--expand": expand,
        "--page-size": page_size,
    }
    status = sys.stderr
    started = time.monotonic()
    try:
        with _display(progress, config, quiet=quiet, stream=status) as tick:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_refresh, tick)
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
                    )
                finally:
                    tg.cancel_scope.cancel()
    except WecalError as exc:
        status.write(f"wecal: error: {exc}\n")
        return 2
    finally:
        stats = config.stats
        await config.aclose()

    if result.already_done:
        status.write(
            f"wecal: this export is already complete ({result.events} events); "
            f"nothing to do. Delete {checkpoint} to export again.\n"
        )
        return 0
    seconds = time.monotonic() - started
    rate = progress.events / seconds if seconds > 0 else 0.0
    where = "stdout" if stdout else output
    status.write(
        f"wecal: exported {result.events} events ({progress.events} this run) from "
        f"{len(result.sources)} sources to {where} in {seconds:.1f}s "
        f"({rate:.0f} events/s, {stats.retries} retries, {stats.rate_limited} rate limits)\n"
    )
    for failed in result.failed:
        status.write(f"wecal: source {failed.source.key} failed: {failed.error}\n")
    if result.failed:
        hint = (
            f"rerun the same command (with --checkpoint {checkpoint}) to finish them"
            if checkpoint
            else "rerun with --checkpoint PATH to resume next time"
        )
        status.write(f"wecal: {len(result.failed)} source(s) failed; {hint}\n")
        return 1
    return 0


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
        elapsed = time.monotonic() - started
        line = (
            f"{progress.events} events, {progress.pages} pages, "
            f"{done}/{progress.total_sources} sources, {stats.retries} retries, "
            f"{stats.rate_limited} rate limits"
        )
        if 0 < done < progress.total_sources:
            eta = elapsed / done * (progress.total_sources - done)
            line += f", ETA ~{eta:.0f}s"
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
            table.add_row(source.key, str(progress.per_source.get(source.key, 0)))
        table.caption = counters()
        return table

    with Live(render(), console=Console(file=stream), transient=False) as live:
        yield lambda: live.update(render())
        live.update(render())


@main.group("events")
def events_group() -> None:
    """Look at events."""


@events_group.command("list")
@_credential_options
@click.option("--start", callback=_when, help="From (default: now).")
@click.option("--end", callback=_when, help="Until (default: 30 days after --start).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
def events_list(
    *,
    target: dict[str, Any],
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> None:
    """A table of the next events of one source (occurrences expanded)."""
    config = _build(**target)
    start = start or datetime.now(UTC)
    end = end or start + timedelta(days=30)
    raise SystemExit(anyio.run(_list, config, start, end, limit))


async def _list(config: _Config, start: datetime, end: datetime, limit: int) -> int:
    source = config.sources[0]
    rows = []
    try:
        async for event in config.paginator(source, start=start, end=end, expand=True):
            rows.append(event)
            if len(rows) >= 4 * limit:
                break
    except WecalError as exc:
        sys.stderr.write(f"wecal: error: {exc}\n")
        return 2
    finally:
        await config.aclose()
    rows.sort(key=lambda e: e.start if isinstance(e.start, datetime) else _midnight(e.start))
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{source.key}: {start:%Y-%m-%d} → {end:%Y-%m-%d}")
    for name in ("start", "end", "summary", "location", "status"):
        table.add_column(name)
    for event in rows[:limit]:
        table.add_row(
            _show(event.start),
            _show(event.end),
            event.summary,
            event.location,
            event.status.value,
        )
    Console().print(table)
    return 0


def _midnight(day: Any) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _show(moment: Any) -> str:
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M %z")
    return f"{moment:%Y-%m-%d} (all day)"


@main.command("sandbox")
@click.option("--port", default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--size", default=50, show_default=True, help="Events per calendar and per user.")
def sandbox_command(port: int, host: str, seed: int, size: int) -> None:
    """Serve the WeCom + DingTalk emulator with demo data (Ctrl-C stops it)."""
    from .sandbox import run
    from .sandbox._demo import credentials

    apps = ", ".join(f"{name} app {app_id}" for name, (app_id, _) in credentials().items())
    click.echo(
        f"wecal sandbox on http://{host}:{port} — {apps} (secrets: wecal.sandbox.DEFAULT_*)",
        err=True,
    )
    run(
        port,
        host=host,
        seed=seed,
        schedules_per_calendar=size,
        events_per_user=size,
    )


if __name__ == "__main__":  # pragma: no cover
    main()
