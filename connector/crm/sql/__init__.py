"""The SQL source (`sources.sql`): any SQLAlchemy URL, DuckDB embedded, PostgreSQL tested for real.

`SqlSource` streams customers, transactions and line items into a sink with the shared tie-safe
cursor (connector.cursor); `pull_into_mirror` keeps the state store's mirror of them, soft and
hard deletes included; events are read whole (`read_events`).
"""

from connector.crm.sql.mirroring import pull_into_mirror, read_events
from connector.crm.sql.source import SqlSource

__all__ = ["SqlSource", "pull_into_mirror", "read_events"]
