"""A loopback emulator of the Salesforce APIs segsync uses (REST, Bulk 2.0, OAuth, Tooling)."""

from __future__ import annotations

from connector.sandbox.salesforce.auth import Credentials
from connector.sandbox.salesforce.sandbox import SalesforceSandbox, render_fault
from connector.sandbox.salesforce.store import DmlError, RecordStore

__all__ = ["Credentials", "DmlError", "RecordStore", "SalesforceSandbox", "render_fault"]
