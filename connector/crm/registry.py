"""The plugin registry: every source and destination by name, and the plugins of one cycle.

A plugin is registered as a `PluginEntry`: its name (also the key of its config under
`sources:` / `destinations:` in the YAML, or under `sources.plugins:` / `destinations.plugins:`
for a plugin another package installs), a factory that opens it from its own config
sub-models, and the customers column holding its record ids. Built-in plugins are listed
once, in `BUILTIN`; a third-party package registers its entry through an entry point in the
group `segsync.sources` or `segsync.destinations`, e.g. in its pyproject.toml:

    [project.entry-points."segsync.sources"]
    warehouse = "segsync_warehouse.plugin:ENTRY"

How to write one: connector.crm.plugin. The steps only see `Plugins`, never a plugin's name.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from connector.crm.errors import ConfigurationError
from connector.crm.plugin import (
    FieldDestination,
    MirroringSource,
    Plugin,
    RecordSource,
    TableDestination,
    TableSource,
)

if TYPE_CHECKING:
    from connector.config import Config

log = logging.getLogger("segsync.plugins")

#: Entry point groups a third-party plugin registers its PluginEntry in.
ENTRY_POINT_GROUPS = ("segsync.sources", "segsync.destinations")

#: (its source config or None, its destination config or None, the config file's folder) ->
#: the plugin, or None when that config does not call for one. A third-party plugin gets its
#: `plugins:` entry as a mapping and raises ConfigurationError naming the key it refuses.
Opener = Callable[[Any, Any, Path], Any]

P = TypeVar("P")


@dataclass(frozen=True)
class PluginEntry:
    """How to open one plugin. `id_column`: the customers column of its record ids (None: its
    customers are keyed by segsync's customer_id); every registered one is a column of the
    customers table and of the desired state, so their shape does not depend on the config."""

    name: str
    open: Opener
    id_column: str | None = None


def _open_salesforce(source: Any, destination: Any, base_dir: Path) -> Any:
    from connector.crm.salesforce import SalesforceConnector

    return None if source is None else SalesforceConnector(source, destination)


def _open_hubspot(source: Any, destination: Any, base_dir: Path) -> Any:
    from connector.crm.hubspot import HubSpotConnector

    return None if source is None else HubSpotConnector(source, destination)


def _open_sql(source: Any, destination: Any, base_dir: Path) -> Any:
    from connector.crm.sql.plugin import SqlPlugin

    return None if source is None else SqlPlugin(source, base_dir)


def _open_files(source: Any, destination: Any, base_dir: Path) -> Any:
    from connector.crm.files import FilesPlugin

    return FilesPlugin(source, destination, base_dir)


#: The built-in plugins, in the order a cycle pulls and pushes them.
BUILTIN = (
    PluginEntry("salesforce", _open_salesforce, id_column="salesforce_id"),
    PluginEntry("hubspot", _open_hubspot, id_column="hubspot_id"),
    PluginEntry("sql", _open_sql),
    PluginEntry("files", _open_files),
)


@functools.cache
def registered() -> Mapping[str, PluginEntry]:
    """name -> entry: the built-in plugins, then those installed packages register."""
    found: dict[str, PluginEntry] = {e.name: e for e in BUILTIN}
    for group in ENTRY_POINT_GROUPS:
        for point in entry_points(group=group):
            entry = point.load()
            if not isinstance(entry, PluginEntry) or entry.name != point.name:
                raise ConfigurationError(f"entry point {point.name} = {point.value} (group {group}) must be a "
                                         f"PluginEntry named {point.name!r}; got {entry!r}")
            if found.get(entry.name, entry) != entry:
                raise ConfigurationError(f"plugin {entry.name!r} is registered twice: by {point.value} and by "
                                         f"{found[entry.name].open.__module__}; uninstall one")
            found[entry.name] = entry
    return found


def id_columns() -> dict[str, str]:
    """plugin name -> the customers column of its record ids, for every registered plugin that has one."""
    return {e.name: e.id_column for e in registered().values() if e.id_column}


class Plugins:
    """The opened plugins of one cycle, by name, in registry order."""

    def __init__(self, plugins: Mapping[str, Any]) -> None:
        for name, plugin in plugins.items():
            if getattr(plugin, "name", None) != name:
                raise TypeError(f"plugin opened as {name!r} calls itself {getattr(plugin, 'name', None)!r}")
        self.by_name: dict[str, Any] = dict(plugins)

    def __iter__(self) -> Iterator[Plugin]:
        return iter(self.by_name.values())

    def __getitem__(self, name: str) -> Any:
        return self.by_name[name]

    def _of(self, kind: type[P]) -> list[P]:
        return [p for p in self.by_name.values() if isinstance(p, kind)]

    def record_sources(self) -> list[RecordSource]:
        return self._of(RecordSource)  # type: ignore[type-abstract]

    def mirroring_sources(self) -> list[MirroringSource]:
        return self._of(MirroringSource)  # type: ignore[type-abstract]

    def table_sources(self) -> list[TableSource]:
        return self._of(TableSource)  # type: ignore[type-abstract]

    def field_destinations(self) -> list[FieldDestination]:
        return self._of(FieldDestination)  # type: ignore[type-abstract]

    def table_destinations(self) -> list[TableDestination]:
        return self._of(TableDestination)  # type: ignore[type-abstract]

    def close(self) -> None:
        for plugin in self.by_name.values():
            plugin.close()


def settings(section: Any, name: str) -> Any:
    """A plugin's own config in `sources:` / `destinations:`: its field (built-in plugins), else
    its entry under `plugins:` as written (a third-party plugin validates it itself)."""
    if name != "plugins" and name in type(section).model_fields:
        return getattr(section, name)
    return section.plugins.get(name)


def open_plugins(config: Config, opened: Mapping[str, Any] | None = None) -> Plugins:
    """Every plugin the config configures (a `sources.<name>` or `destinations.<name>` entry).

    `opened`: plugins the caller built already, by name (tests and the demo mount the sandbox
    in-process); they take the place of the registry's own, and any other name is kept too.
    """
    opened = dict(opened or {})
    entries = registered()
    for key, named in (("sources", config.sources.plugins), ("destinations", config.destinations.plugins)):
        unknown = sorted(set(named) - set(entries))
        if unknown:
            raise ConfigurationError(f"{key}.plugins.{unknown[0]}: no plugin of that name is installed "
                                     f"(installed: {', '.join(entries)})")
    out: dict[str, Any] = {}
    for entry in entries.values():
        if entry.name in opened:
            out[entry.name] = opened.pop(entry.name)
            continue
        source, destination = settings(config.sources, entry.name), settings(config.destinations, entry.name)
        if source is None and destination is None:
            continue
        plugin = entry.open(source, destination, config.base_dir)
        if plugin is not None:
            out[entry.name] = plugin
    out.update(opened)
    return Plugins(out)
