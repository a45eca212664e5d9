"""
Advisory OS file locks (``flock``) that keep two exports off one checkpoint or output.

``flock`` is held by an open file description, so the kernel releases it when
the process dies, ``kill -9`` included: no pid file to go stale. It works on
Linux and macOS (and on NFS through the kernel's emulation). The lock is taken
with ``LOCK_NB``: a second export is refused at once, never left waiting.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from ..errors import ValidationError

__all__ = ["LockFile", "lock_fd"]


def lock_fd(fd: int, what: str) -> None:
    """Lock the open file ``fd`` exclusively, or raise ValidationError naming ``what``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ValidationError(
                f"{what} is in use by another wecal export; wait for it to finish "
                "(or stop it) before running this one"
            ) from None
        raise


class LockFile:
    """
    ``<path>.lock`` beside a checkpoint, locked for a whole run and removed after.

    The checkpoint itself cannot carry the lock: it is replaced by a rename at
    every commit, and a lock belongs to the replaced file. Removing the lock
    file when done is safe because :meth:`acquire` checks, after locking, that
    the file it locked is still the one at the path (a run that opened it just
    before another run removed it retries on the new file).
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                lock_fd(fd, self.what)
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    self._fd = fd
                    return
            except FileNotFoundError:
                pass  # removed by the run that held it: lock the new one
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None
