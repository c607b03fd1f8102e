"""Run every check the config calls for."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from connector.check.local import check_local
from connector.check.result import Check
from connector.config import Config
from connector.state import StateStore


def run_checks(config: Config, *, transports: Mapping[str, httpx.BaseTransport] | None = None) -> list[Check]:
    """Every check for `config`, local ones first. `transports` maps a CRM name to an httpx
    transport (tests mount the sandbox in-process); by default the real network is used."""
    transports = transports or {}
    planned = planned_calls(config)
    checks = check_local(config)
    if config.sources.salesforce is not None:
        from connector.check.salesforce import check_salesforce

        checks += check_salesforce(config.sources.salesforce, config.destinations.salesforce,
                                   planned_calls=planned.get("salesforce"), transport=transports.get("salesforce"))
    if config.sources.hubspot is not None:
        from connector.check.hubspot import check_hubspot

        checks += check_hubspot(config.sources.hubspot, config.destinations.hubspot,
                                planned_calls=planned.get("hubspot"), transport=transports.get("hubspot"))
    return checks


def planned_calls(config: Config) -> dict[str, int]:
    """API calls per CRM that the next cycle will make, estimated as those of the last
    successful cycle (requests counted per CRM in the run's counts). Empty before the first
    run; each CRM check then estimates a first full sync from its record counts."""
    path = config.resolve(config.state.path)
    if not path.exists():
        return {}
    with StateStore(path) as store:
        runs = [r for r in store.runs.last(20) if r.status == "succeeded" and not r.dry_run]
    if not runs:
        return {}
    out: dict[str, int] = {}
    for key, value in runs[0].counts.items():
        crm = key.removeprefix("requests_").rsplit("_", 1)[0] if key.startswith("requests_") else None
        if crm in ("salesforce", "hubspot") and isinstance(value, int):
            out[crm] = out.get(crm, 0) + value
    return out
