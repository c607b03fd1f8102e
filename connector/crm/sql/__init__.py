"""The SQL source (`sources.sql`): any SQLAlchemy URL, DuckDB embedded, PostgreSQL tested for real.

`SqlSource` streams customers, transactions, line items and events into a sink with the shared
tie-safe cursor (connector.cursor); `pull_into_mirror` keeps the state store's mirror of them,
soft and hard deletes included; `mirrored_events` gives the cycle every live event.
"""

from connector.crm.sql.mirroring import mirrored_events, pull_into_mirror
from connector.crm.sql.source import SqlSource

__all__ = ["SqlSource", "mirrored_events", "pull_into_mirror"]
