"""The SQL source (`sources.sql`): any SQLAlchemy URL, DuckDB embedded, PostgreSQL tested for real.

`SqlSource` streams customers and transactions into a sink with the shared tie-safe cursor
(connector.cursor); `pull_into_mirror` keeps the state store's mirror of them, soft and hard
deletes included; line items and events are read whole (`read_line_items`, `read_events`).
"""

from connector.crm.sql.mirroring import pull_into_mirror, read_events, read_line_items
from connector.crm.sql.source import SqlSource

__all__ = ["SqlSource", "pull_into_mirror", "read_events", "read_line_items"]
