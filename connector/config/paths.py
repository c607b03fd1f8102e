"""Which files segsync reads and which it writes: no output may land on an input.

An output that resolves (through symlinks, or as a hard link to the same file) to the
transactions file, the config file, the state file or one of SQLite's companions would
destroy it on the next run, so such a config is refused at load time and again before any
file is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from connector.crm.errors import ConfigurationError

if TYPE_CHECKING:
    from connector.config.root import Config

#: SQLite's journal files and segsync's lock sit next to the state file.
STATE_COMPANIONS = ("-wal", "-shm", "-journal", ".lock")


def _same(a: Path, b: Path) -> bool:
    """Same file: equal real paths, or one file under two names (hard link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet: then only the real path can collide
        return False


def protected_paths(cfg: Config) -> list[tuple[str, Path]]:
    """(what, path) of every file an output must never replace."""
    found: list[tuple[str, Path]] = []
    if cfg.source_file is not None:
        found.append(("the config file", cfg.source_file))
    if cfg.sources.files is not None:
        found.append(("sources.files.transactions", cfg.resolve(cfg.sources.files.transactions)))
    state = cfg.resolve(cfg.state.path)
    found.append(("state.path", state))
    found += [(f"the state file's {suffix.strip('-.')} file", Path(f"{state}{suffix}")) for suffix in STATE_COMPANIONS]
    return found


def refuse_overwrite(cfg: Config, output: Path, what: str) -> None:
    """Raise ConfigurationError when writing `output` would replace an input, the config or the state."""
    for name, path in protected_paths(cfg):
        if name == what:
            continue
        if _same(output, path):
            raise ConfigurationError(
                f"{what}: {output} is the same file as {name} ({path}); segsync never writes over its own "
                "inputs: choose another path"
            )


def check_outputs(cfg: Config) -> None:
    """Every configured output against every input (called when the config is loaded)."""
    if cfg.destinations.files is not None:
        refuse_overwrite(cfg, cfg.resolve(cfg.destinations.files.path), "destinations.files.path")
    state = cfg.resolve(cfg.state.path)
    for name, path in protected_paths(cfg)[:2]:
        if name != "state.path" and _same(state, path):
            raise ConfigurationError(f"state.path: {state} is the same file as {name}; choose another path")
