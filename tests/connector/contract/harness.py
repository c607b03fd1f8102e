"""What the shared contract suite needs from each CRM, and how implementations are found.

Every `harness_<crm>.py` module in this folder defines `HARNESS`, a factory returning an
object that satisfies `Harness`; test_contract.py runs every contract test against each one.
To add a CRM, add its harness module: nothing here or in test_contract.py changes.

A harness owns one fresh emulated CRM (its sandbox) per test, and knows how to seed it and
read it back directly, so the tests can check what the connector did to the CRM's state.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from connector.crm.base import FieldSpec, FieldUpdate
from connector.crm.plugin import Connector


class Harness(Protocol):
    name: str
    #: Whether incremental pulls report records deleted in the CRM as `deleted_ids`.

    def connector(self) -> Connector:
        """A connector on this harness's sandbox (same sandbox on every call)."""
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

    def close(self) -> None: ...


HarnessFactory = Callable[[], Harness]


def discover() -> dict[str, HarnessFactory]:
    """{crm name: factory} from every harness_*.py next to this file."""
    found: dict[str, HarnessFactory] = {}
    for path in sorted(Path(__file__).parent.glob("harness_*.py")):
        module = importlib.import_module(f"tests.connector.contract.{path.stem}")
        found[path.stem.removeprefix("harness_")] = module.HARNESS
    return found
