"""Static (MANUAL) contact lists: names from templates, membership replies reconciled.

HubSpot list names are unique per portal, and only MANUAL and SNAPSHOT lists take
membership writes (developers.hubspot.com/docs/api-reference/2026-03/crm/lists). A
membership reply is `{"recordsIdsAdded","recordIdsRemoved","recordIdsMissing"}`: the
legacy spelling really is `recordsIdsAdded` (newer pages say `recordIdsAdded`, so both are
read), empty arrays may be left out, and ids that are already members (or already absent)
are ignored silently. An id in `recordIdsMissing` is a record that no longer exists: it
is reported as missing, never as a success.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.crm.errors import ConfigurationError

#: Ids per add-and-remove call. HubSpot documents no cap; chunks keep bodies and retries small.
MEMBERSHIP_CHUNK = 1_000
MAX_LIST_NAME = 255


def list_name(template: str, **fields: Any) -> str:
    """Fill a name template from the YAML, e.g. "segsync {experiment} {arm}".

    Raises ConfigurationError naming the unknown field, so a typo in the YAML is reported
    as such rather than as a KeyError.
    """
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    unknown = sorted(names - set(fields))
    if unknown:
        raise ConfigurationError(
            f"list name template {template!r} uses unknown field(s) {', '.join(unknown)}; "
            f"available: {', '.join(sorted(fields))}"
        )
    name = " ".join(template.format(**fields).split())
    if not name or len(name) > MAX_LIST_NAME:
        raise ConfigurationError(f"list name from template {template!r} must be 1..{MAX_LIST_NAME} characters (got {name!r})")
    return name


@dataclass
class MembershipOutcome:
    """What one or more membership calls did, per record id.

    added: now members (newly added, or already members: HubSpot ignores those silently).
    removed: no longer members (removed, or were not members).
    missing: records that do not exist in HubSpot (deleted): neither added nor removed.
    """

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    calls: int = 0

    def merge(self, other: MembershipOutcome) -> None:
        self.added.extend(other.added)
        self.removed.extend(other.removed)
        self.missing.extend(other.missing)
        self.calls += other.calls


def _ids(reply: Mapping[str, Any], *keys: str) -> set[str]:
    found: set[str] = set()
    for key in keys:
        found.update(str(i) for i in reply.get(key) or [])
    return found


def reconcile_membership(
    to_add: Iterable[str], to_remove: Iterable[str], reply: Mapping[str, Any]
) -> MembershipOutcome:
    """Match one add-and-remove reply to the ids that were sent."""
    missing = _ids(reply, "recordIdsMissing")
    outcome = MembershipOutcome(calls=1)
    for rid in to_add:
        (outcome.missing if rid in missing else outcome.added).append(rid)
    for rid in to_remove:
        (outcome.missing if rid in missing else outcome.removed).append(rid)
    return outcome


def added_ids(reply: Mapping[str, Any]) -> set[str]:
    """Ids HubSpot reports as newly added, under either spelling."""
    # "recordsIdsAdded" is HubSpot's long-standing spelling; newer docs say "recordIdsAdded".
    return _ids(reply, "recordsIdsAdded", "recordIdsAdded")
