"""What the shared contract suite needs from each plugin, and how implementations are found.

Every `harness_<name>.py` module in this folder defines `HARNESS`, a factory returning an
object that satisfies `Harness` (a record source and field destination: a CRM) or
`TableHarness` (a table source and destination: files); test_contract.py and
test_faults.py run every contract test against each one. To add a plugin, add its harness
module: nothing here or in the tests changes. Every registered plugin must have one
(test_every_registered_plugin_has_a_harness).

A harness owns one fresh emulated system (its sandbox) per test, and knows how to seed it and
read it back directly, so the tests can check what the plugin did to the system's state.
Its options drive the sandbox's faults (connector/sandbox/faults.py) and limits.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from connector.crm.base import FieldSpec, FieldUpdate
from connector.crm.plugin import Connector


class Harness(Protocol):
    name: str
    #: Records per page of a full pull (the tests seed several pages' worth).
    page_size: int

    def connector(self, fresh: bool = False) -> Connector:
        """A connector on this harness's sandbox (the same one on every call; a new one, as the
        next run opens, with `fresh`)."""
        ...

    def seed_customers(self, n: int) -> list[str]:
        """Create n customers with unique emails; return their source ids."""
        ...

    def seed_purchase(self, customer_id: str, amount: float, closed: date) -> str:
        """Record a completed purchase (won opportunity / closed-won deal); return its id."""
        ...

    def touch_customers(self, ids: list[str]) -> None:
        """Change the customers (e.g. their email) later in time than anything before."""
        ...

    def delete_customer(self, customer_id: str) -> None: ...

    def missing_id(self) -> str:
        """A well-formed id of a customer that does not exist."""
        ...

    def field_specs(self) -> list[FieldSpec]:
        """Fields the contract pushes: at least a text field with key 'segment_name'."""
        ...

    def update_for(self, customer_id: str, segment_name: str) -> FieldUpdate:
        """The FieldUpdate that sets segment_name on this customer."""
        ...

    def read_segment_name(self, customer_id: str) -> Any:
        """The segment_name field as stored in the CRM."""
        ...

    def injected(self) -> Counter[str]:
        """The faults the sandbox injected so far, by kind ("429", "503", "drop", ...)."""
        ...

    def expire_tokens(self) -> None:
        """Every access token or session issued so far is revoked now (the next call gets a 401)."""
        ...

    def spend_quota(self, calls: int) -> None:
        """Another integration spends `calls` of the daily API budget now."""
        ...

    def next_day(self) -> None:
        """A day passes: the daily API budget is whole again."""
        ...

    def close(self) -> None: ...


class TableHarness(Protocol):
    """A table source and destination (files): whole tables in, the desired state out."""

    name: str

    def plugin(self, with_line_items: bool = False) -> Any:
        """The plugin on this harness's input (three customers, four purchases, one bad amount)."""
        ...

    def expected_customers(self) -> set[str]: ...

    def read_output(self) -> pd.DataFrame:
        """What the destination wrote, as text."""
        ...


#: HARNESS(faults=None, daily_limit=None, expiring_tokens=False): a fresh harness. faults: the
#: sandbox's injected faults; daily_limit: its daily API budget; expiring_tokens: authenticate
#: with tokens that expire (OAuth where the CRM also has static keys).
HarnessFactory = Callable[..., Any]


def discover(kind: str | None = None) -> dict[str, HarnessFactory]:
    """{plugin name: factory} from every harness_*.py next to this file; `kind` "crm" (a
    Harness) or "table" (a TableHarness) keeps that kind only."""
    found: dict[str, HarnessFactory] = {}
    for path in sorted(Path(__file__).parent.glob("harness_*.py")):
        module = importlib.import_module(f"tests.connector.contract.{path.stem}")
        if kind is None or getattr(module.HARNESS, "kind", "crm") == kind:
            found[path.stem.removeprefix("harness_")] = module.HARNESS
    return found
