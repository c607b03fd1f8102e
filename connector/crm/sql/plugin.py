"""The SQL source as a plugin (connector.crm.plugin.MirroringSource): pull into the mirror, hand
on the events, their customers named by segsync's key.

Customers, purchases, line items and events land in the state store's mirror (source `sql`)
like a CRM's, so the features step joins them through identity as it does every source; every
live mirrored event is handed on keyed by segsync's customer id (`connector.identity.customer_keys`).
Rows refused at the pull are stored as rejected rows of the `pull` step with their reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from connector.config.sql import SqlSource as SqlSourceConfig
from connector.crm.plugin import PullContext
from connector.crm.sql.mirroring import mirrored_events, pull_into_mirror
from connector.crm.sql.records import SOURCE
from connector.crm.sql.source import SqlSource
from connector.identity import customer_keys

log = logging.getLogger("segsync.sql")


class SqlPlugin:
    """`sources.sql` in a cycle: provides the entities its config names."""

    name = SOURCE
    id_column: str | None = None  # a warehouse is no destination: its ids need no column

    def __init__(self, cfg: SqlSourceConfig, base_dir: Path) -> None:
        self.cfg = cfg
        self.base_dir = base_dir
        self.provides = frozenset(cfg.entities())

    def pull_into(self, pull: PullContext) -> Mapping[str, pd.DataFrame]:
        with SqlSource(self.cfg, self.base_dir, reject=pull.reject, accept=pull.accept) as source:
            counts = pull_into_mirror(source, pull.mirror, datetime.now(UTC), after_page=pull.checkpoint)
        for entity, n in counts.rows.items():
            pull.count(f"pulled_{SOURCE}_{entity}", n)
            deleted = counts.soft_deleted[entity] + counts.hard_deleted[entity]
            if deleted:
                pull.count(f"deleted_{SOURCE}_{entity}", deleted)
            log.info("sql %s: %d changed row(s), %d deleted", entity, n, deleted)
        if self.cfg.events is None:
            return {}
        events = mirrored_events(pull.mirror)
        keys = customer_keys(pull.mirror.customers(SOURCE), pull.identity).set_index("source_id")["customer_id"]
        events = events.assign(customer_id=_customer_ids(events["customer_source_id"], keys)).drop(
            columns="customer_source_id")
        return {"events": events.assign(source=SOURCE)}

    def close(self) -> None:
        """Each pull opens and closes its own connection."""


def _customer_ids(source_ids: pd.Series, keys: pd.Series) -> pd.Series:
    """segsync's key of each source customer id; one the mirror does not know keeps `sql-<id>`."""
    ids = source_ids.astype(str)
    return ids.map(keys).fillna(f"{SOURCE}-" + ids).astype(str)

