"""Save and load the portal's state as gzipped JSON, so a demo can stop and resume.

JSON, not pickle: a snapshot file is data, and loading one must never run code. OAuth access
tokens are not saved (clients refresh after a restore); credentials come back from the seed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from connector.sandbox.hubspot.records import ListRecord, Record, TouchLog
from connector.sandbox.hubspot.store import Store

FORMAT = "segsync.sandbox.hubspot/1"


def dump_state(store: Store, config: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        return {
            "format": FORMAT,
            "config": config,
            "now": store.clock.now().isoformat(),
            "properties": store.properties,
            "groups": store.groups,
            "rows": {t: [None if r is None else [r.created, r.updated, r.archived, r.props] for r in rows]
                     for t, rows in store.rows.items()},
            "links": {f"{a}->{b}": {str(k): sorted(v) for k, v in m.items()} for (a, b), m in store.links.items()},
            "lists": [[lst.list_id, lst.name, lst.object_type_id, lst.processing_type, lst.created, lst.updated,
                       lst.version, {str(k): v for k, v in lst.members.items()}] for lst in store.list_by_id.values()],
            "next_list_id": store.next_list_id,
            "label_defs": {f"{a}->{b}": {str(t): label for t, label in defs.items()}
                           for (a, b), defs in store.label_defs.items() if defs},
            "link_labels": [[*key, sorted(types)] for key, types in store.link_labels.items()],
        }


def load_state(store: Store, state: dict[str, Any]) -> None:
    if state.get("format") != FORMAT:
        raise ValueError(f"not a HubSpot sandbox snapshot (format {state.get('format')!r}, expected {FORMAT!r})")
    with store.lock:
        # update, not replace: a snapshot from before an object type existed keeps it empty
        store.properties.update(state["properties"])
        store.groups.update(state["groups"])
        store.rows.update({t: [None if r is None else _record(r) for r in rows]
                           for t, rows in state["rows"].items()})
        store.emails = {}
        for record_id, rec in store.iter_rows("contacts"):
            if rec.props.get("email"):
                store.emails[rec.props["email"].lower()] = record_id
        for object_type in store.rows:
            log = store.touched[object_type] = TouchLog()
            for updated, record_id in sorted((rec.updated, i) for i, rec in store.iter_rows(object_type)):
                log.note(updated, record_id)
        for key, mapping in state["links"].items():
            a, b = key.split("->")
            store.links[(a, b)] = {int(k): set(v) for k, v in mapping.items()}
        for key, defs in state.get("label_defs", {}).items():
            a, b = key.split("->")
            store.label_defs[(a, b)] = {int(t): label for t, label in defs.items()}
        store.link_labels = {(a, int(f), b, int(t)): set(types)
                             for a, f, b, t, types in state.get("link_labels", [])}
        store.list_by_id = {}
        for list_id, name, type_id, processing, created, updated, version, members in state["lists"]:
            lst = ListRecord(list_id, name, type_id, processing, created)
            lst.updated, lst.version = updated, version
            lst.members = {int(k): v for k, v in members.items()}
            store.list_by_id[list_id] = lst
        store.next_list_id = state["next_list_id"]
        store.version += 1


def _record(raw: list[Any]) -> Record:
    rec = Record(raw[0], raw[3])
    rec.updated, rec.archived = raw[1], raw[2]
    return rec


def write(path: str | Path, state: dict[str, Any]) -> None:
    tmp = Path(f"{path}.tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        json.dump(state, fh, separators=(",", ":"))
    tmp.replace(path)  # atomic: a crash mid-write leaves the old snapshot


def read(path: str | Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)
