"""
Real OS processes that start in milliseconds: forked from a process that has
already imported wecal.

A fresh ``python -m wecal.cli`` spends ~0.7 s of CPU importing wecal (httpx,
the providers, click) before it does anything; the multi-process tests start
a hundred of them, and on a loaded two-core machine that start-up was most of
their cost. :func:`start` runs the same entry point (``wecal.cli.main``, or a
test's worker module) in a child forked from multiprocessing's fork server,
which imported those modules once (``set_forkserver_preload``). Each child is
a real process of its own: its own pid, memory, event loop, Redis and HTTP
connections, killed by SIGKILL or stopped by SIGSTOP like any other, with its
stdin/stdout/stderr on the pipes or files given, its environment and working
directory set, and its exit status that of the command (``sys.exit``'s code,
or minus the signal that killed it).

What only a fresh interpreter shows (the console script installed, the
modules a command imports) still runs in one, through :mod:`subprocess`.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import threading
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["DEVNULL", "PIPE", "STDOUT", "Forked", "run", "start"]

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT

#: What the children import anyway: imported once, in the fork server.
PRELOAD = [
    "wecal.cli",
    "wecal.export.arq",
    "arq.worker",
    "tests._procs",
    "tests._redis_worker",
    "tests._notify_replica",
]
#: The entry points a test may start, by name.
ENTRY = {
    "wecal": ("wecal.cli", "main"),
    "tests._redis_worker": ("tests._redis_worker", "main"),
    "tests._notify_replica": ("tests._notify_replica", "main"),
}
_lock = threading.Lock()
_context: Any = None


def _ctx() -> Any:
    global _context
    with _lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            atexit.register(_stop)
            _context = context
        return _context


def _stop() -> None:
    """
    At exit: end the children still running, then stop the fork server and
    reap it, so that its CPU time and its children's count in this process's
    (what ``time pytest`` reports), as a subprocess's do.
    """
    for child in multiprocessing.active_children():
        child.kill()
        child.join(10)
    from multiprocessing import forkserver

    forkserver._forkserver._stop()  # 3.11: a private method; no public way to reap it


def _child(
    entry: str,
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    fds: list[multiprocessing.connection.Connection | None],
) -> None:
    """In the child: the given stdio, environment, directory and argv, then the entry point."""
    for number, conn in enumerate(fds):
        if conn is not None:
            os.dup2(conn.fileno(), number)
            conn.close()
    # Python's streams on those descriptors, as a fresh interpreter opens them
    # (stderr line-buffered, undecodable output escaped).
    sys.stdin = sys.__stdin__ = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
        2, "w", buffering=1, closefd=False, errors="backslashreplace"
    )
    # The fork server ignores SIGINT (it protects itself from ^C); a command does not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = list(argv)
    module, function = ENTRY[entry]
    main = getattr(sys.modules.get(module) or __import__(module, fromlist=[function]), function)
    main()


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """
    multiprocessing prepares a child by running the parent's ``__main__``
    script again (under pytest: the ``pytest`` script, importing pytest in
    every child); these children run an entry point and need none of it.
    """
    with _lock:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


class Forked:
    """A started child, used as a :class:`subprocess.Popen` is (the parts the tests use)."""

    def __init__(
        self,
        entry: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
        text: bool = False,
    ) -> None:
        self.args = [entry, *args]
        self.returncode: int | None = None
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.stderr: IO[Any] | None = None
        theirs: list[multiprocessing.connection.Connection | None] = []
        ours: list[IO[Any] | None] = []
        for number, how in enumerate((stdin, stdout, stderr)):
            reading = number == 0
            if how is None:
                theirs.append(None)
                ours.append(None)
                continue
            if how == PIPE:
                r, w = os.pipe()
                child, parent = (r, w) if reading else (w, r)
                mode = ("w" if reading else "r") + ("" if text else "b")
                ours.append(open(parent, mode, **({"encoding": "utf-8"} if text else {})))  # noqa: SIM115
            elif how == subprocess.STDOUT:
                out = theirs[1]
                assert out is not None, "stderr=STDOUT needs a stdout"
                child = os.dup(out.fileno())
                ours.append(None)
            elif how == DEVNULL:
                child = os.open(os.devnull, os.O_RDONLY if reading else os.O_WRONLY)
                ours.append(None)
            else:
                assert not isinstance(how, int)
                child = os.dup(how.fileno())
                ours.append(None)
            theirs.append(
                multiprocessing.connection.Connection(child, readable=reading, writable=not reading)
            )
        self.stdin, self.stdout, self.stderr = ours
        self._process = _ctx().Process(
            target=_child,
            args=(
                entry,
                [str(Path(sys.executable).with_name(entry)), *args],
                dict(os.environ if env is None else env),
                str(cwd or os.getcwd()),
                theirs,
            ),
            daemon=True,
        )
        try:
            with _bare_main():
                self._process.start()
        finally:
            for conn in theirs:
                if conn is not None:
                    conn.close()  # the fork server passed the child its own copies
        self.pid: int = self._process.pid

    def poll(self) -> int | None:
        if self.returncode is None and not self._process.is_alive():
            self._process.join()
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        """Write ``input``, read stdout and stderr to their ends, wait: as Popen does."""
        if self.stdin is not None and not self.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                if input:
                    self.stdin.write(input)
                self.stdin.close()
        got: dict[int, Any] = {}

        def read(number: int, stream: IO[Any]) -> None:
            got[number] = stream.read()
            stream.close()

        readers = [
            threading.Thread(target=read, args=(n, s), daemon=True)
            for n, s in ((1, self.stdout), (2, self.stderr))
            if s is not None and not s.closed  # a second call reads nothing more
        ]
        for reader in readers:
            reader.start()
        self.wait(timeout)
        for reader in readers:
            reader.join(timeout)  # a grandchild holding the pipe would hang it: bounded
        return got.get(1), got.get(2)

    def __del__(self) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()


def start(entry: str, *args: str, **kwargs: Any) -> Forked:
    """``entry ARGS`` (``"wecal"`` or a test worker module) in a forked child, started."""
    return Forked(entry, args, **kwargs)


def run(
    entry: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``entry ARGS`` in a forked child, to its end, its output captured as text."""
    child = Forked(entry, args, env=env, cwd=cwd, stdout=PIPE, stderr=PIPE, text=True)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise
    assert child.returncode is not None
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)
