"""Batch replies (200 / 207 multi-status) reconciled record by record.

A HubSpot batch reply is `{"status":"COMPLETE","results":[...],"numErrors":n,"errors":[{
"status":"error","category":"OBJECT_NOT_FOUND","message":...,"context":{"ids":["999"]}}]}`
with HTTP 200 when all inputs succeeded and 207 when some failed
(developers.hubspot.com/docs/api-reference/error-handling). Results are not in input order,
so each input is matched by its key (record id, or the idProperty value for upserts); an
input that is neither in `results` nor named by an error is *not* confirmed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from connector.crm.errors import DataError

T = TypeVar("T")

CRM = "hubspot"


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1 (got {size})")
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass
class BatchOutcome:
    """Per-record result of one batch call: confirmed keys and refused keys with their error."""

    confirmed: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, DataError] = field(default_factory=dict)


def _error_ids(error: Mapping[str, Any]) -> list[str]:
    context = error.get("context") or {}
    ids = context.get("ids") if isinstance(context, Mapping) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _data_error(error: Mapping[str, Any], key: str) -> DataError:
    return DataError(
        str(error.get("message") or "refused by HubSpot"),
        record_id=key,
        crm=CRM,
        code=error.get("category") or error.get("status"),
        correlation_id=error.get("correlationId"),
    )


def reconcile_batch(
    keys: Sequence[str],
    reply: Mapping[str, Any],
    result_key: Callable[[Mapping[str, Any]], str | None],
    *,
    normalise: Callable[[str], str] = str,
) -> BatchOutcome:
    """Match a batch reply to the inputs it answers.

    keys: the key of every input sent (record id, or email for upserts by email).
    result_key: reads the key back from one entry of `results`.
    normalise: applied to both sides before matching (e.g. lower-casing emails).
    """
    wanted = {normalise(k): k for k in keys}
    outcome = BatchOutcome()
    for result in reply.get("results") or []:
        k = result_key(result)
        if k is not None and normalise(k) in wanted:
            outcome.confirmed[wanted[normalise(k)]] = dict(result)
    unattributed: Mapping[str, Any] | None = None
    for error in reply.get("errors") or []:
        named = [wanted[normalise(i)] for i in _error_ids(error) if normalise(i) in wanted]
        for key in named:
            outcome.confirmed.pop(key, None)
            outcome.failed[key] = _data_error(error, key)
        if not named and unattributed is None:
            unattributed = error
    for key in keys:
        if key in outcome.confirmed or key in outcome.failed:
            continue
        fallback = unattributed or {"message": "no result returned for this record", "category": "MISSING_RESULT"}
        outcome.failed[key] = _data_error(fallback, key)
    return outcome


def result_id(result: Mapping[str, Any]) -> str | None:
    """The record id of one batch result."""
    rid = result.get("id")
    return None if rid is None else str(rid)


def result_property(name: str) -> Callable[[Mapping[str, Any]], str | None]:
    """Reads one property from a batch result (the idProperty of an upsert)."""

    def read(result: Mapping[str, Any]) -> str | None:
        value = (result.get("properties") or {}).get(name)
        return None if value is None else str(value)

    return read
