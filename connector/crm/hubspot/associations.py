"""Deal -> contact associations through the v4 batch read (`/crm/associations/2026-03/...`).

Search replies carry no associations (Airbyte BEHAVIOR.md), so each page of deals costs one
batch read of at most 100 ids. A result has `paging` only when that record has more
associations than one reply holds; those are read again with `{"id", "after"}` inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.crm.hubspot.api import HubSpotApi
from connector.crm.hubspot.batches import chunked

BATCH_READ_MAX = 100


def associated_ids(api: HubSpotApi, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
    """from id -> associated `to_type` ids (sorted numerically) for every id given."""
    found: dict[str, list[str]] = {str(i): [] for i in ids}
    path = api.paths.associations_batch_read(from_type, to_type)
    for chunk in chunked(ids, BATCH_READ_MAX):
        inputs: list[dict[str, str]] = [{"id": str(i)} for i in chunk]
        while inputs:
            reply = api.call("POST", path, kind="associations_read", json={"inputs": inputs})
            inputs = []
            for result in reply.get("results") or []:
                source = str((result.get("from") or {}).get("id"))
                targets = found.setdefault(source, [])
                targets.extend(str(t["toObjectId"]) for t in result.get("to") or [])
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    inputs.append({"id": source, "after": str(after)})
    return {k: sorted(set(v), key=_numeric) for k, v in found.items()}


def _numeric(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (0, value)
