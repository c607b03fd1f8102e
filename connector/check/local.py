"""Preflight of what lives on this machine: the files source, the files destination, the state."""

from __future__ import annotations

import os
from pathlib import Path

from connector.check.result import Check, Findings
from connector.config import Config


def check_local(config: Config) -> list[Check]:
    found = Findings("this machine")
    files = config.sources.files
    if files is not None:
        path = config.resolve(files.transactions)
        readable = path.is_file() and os.access(path, os.R_OK)
        found.expect(readable, "transactions file", f"{path} is readable" if readable else f"{path}: not a readable file",
                     "correct sources.files.transactions, or give this user read access to the file")
    out = config.destinations.files
    if out is not None:
        _writable(found, "output file folder", config.resolve(out.path).parent, "destinations.files.path")
    _writable(found, "state folder", config.resolve(config.state.path).parent, "state.path")
    return found.items


def _writable(found: Findings, name: str, folder: Path, key: str) -> None:
    existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    ok = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    found.expect(ok, name, f"{folder} is writable" if ok else f"{folder}: cannot be written by this user",
                 f"point {key} at a folder this user can write, or change the folder's permissions")
