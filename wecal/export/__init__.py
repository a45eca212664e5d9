"""
Bulk export: many sources, concurrently, to JSONL or .ics — exactly once across crashes.

Each *source* (a WeCom calendar, a DingTalk user) is one paginator. Sources
run in parallel in an anyio task group bounded by ``concurrency``; their pages
flow through one bounded stream to a single writer, which appends them to the
output and records progress in a checkpoint.

Exactly once, across ``kill -9``:

1. the writer appends a batch of pages (every page that arrived while the
   previous batch was being committed — a *group commit*, so one ``fsync``
   serves many sources), flushes and fsyncs the output;
2. then replaces the checkpoint atomically (write a temp file, fsync, rename,
   fsync the directory). The checkpoint holds, per source, the cursor after
   its last written page, and the output's committed byte length.

A rerun with the same checkpoint truncates the output to the committed length
(dropping whatever a crash left half-written after it) and resumes every source
from its cursor. For .ics the committed length is the position *before* the
closing ``END:VCALENDAR``, which is rewritten after every batch, so the file is
a valid calendar at every commit and resume stays valid.
"""

from ._checkpoint import Binding as Binding
from ._checkpoint import Checkpoint as Checkpoint
from ._checkpoint import SourceState as SourceState
from ._engine import EventWriter as EventWriter
from ._engine import ExportResult as ExportResult
from ._engine import PageLike as PageLike
from ._engine import Progress as Progress
from ._engine import Source as Source
from ._engine import SourceResult as SourceResult
from ._engine import export as export
from ._engine import parse_when as parse_when
from ._engine import writer_for as writer_for
from ._ics import IcsWriter as IcsWriter
from ._jsonl import JsonlWriter as JsonlWriter

__all__ = [
    "Binding",
    "Checkpoint",
    "EventWriter",
    "ExportResult",
    "IcsWriter",
    "JsonlWriter",
    "PageLike",
    "Progress",
    "Source",
    "SourceResult",
    "SourceState",
    "export",
    "parse_when",
    "writer_for",
]
