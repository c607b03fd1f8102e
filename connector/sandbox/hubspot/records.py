"""What the store holds: records, lists, and the modified-since log of writes."""

from __future__ import annotations

from array import array
from bisect import bisect_left


class Record:
    __slots__ = ("created", "updated", "archived", "props")

    def __init__(self, created: int, props: dict[str, str]) -> None:
        self.created = created
        self.updated = created
        self.archived = False
        self.props = props


class TouchLog:
    """(modified ms, id) of every write, in write order: an index for "modified since"
    searches. The sandbox clock only moves forward, so the log is sorted by time and a
    search for records modified since T reads only the tail after T, not every record."""

    def __init__(self) -> None:
        self.times = array("q")
        self.ids = array("q")
        self.ordered = True

    def note(self, ms: int, record_id: int) -> None:
        if self.times and ms < self.times[-1]:
            self.ordered = False  # a clock that went back (wall-clock mode): stop using the index
        self.times.append(ms)
        self.ids.append(record_id)

    def since(self, ms: int) -> set[int] | None:
        """Ids written at or after `ms` (a superset of those modified since), or None."""
        if not self.ordered:
            return None
        return set(self.ids[bisect_left(self.times, ms):])


class ListRecord:
    __slots__ = ("list_id", "name", "object_type_id", "processing_type", "created", "updated",
                 "version", "members")

    def __init__(self, list_id: int, name: str, object_type_id: str, processing_type: str, now: int):
        self.list_id = list_id
        self.name = name
        self.object_type_id = object_type_id
        self.processing_type = processing_type
        self.created = now
        self.updated = now
        self.version = 1
        self.members: dict[int, int] = {}  # record id -> membership timestamp (ms)
