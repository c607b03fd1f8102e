"""Identity: one customer, one stable segsync key, wherever the customer lives.

The key is derived from the normalised email when there is one ("e-" + 16 hex of its
SHA-256, so the key carries no personal data), so the same person in Salesforce and HubSpot
is one customer (DESIGN.md, "Identity"). Records without an email keep a per-source key
("<source>-<its id>", e.g. "hubspot-512"), and a table source (a file) keeps its own customer id.
Each source's record ids land in the customers column its plugin declares (`id_column`).
A second record with the same email in one CRM is a duplicate: it is rejected with a reason
naming both ids, and its purchases still count for the customer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from connector.config import IdentityConfig


def normalise_email(email: object, cfg: IdentityConfig) -> str | None:
    if not isinstance(email, str):
        return None
    e = email.strip()
    if "@" not in e or e.startswith("@") or e.endswith("@"):
        return None
    if cfg.lowercase:
        e = e.lower()
    if cfg.strip_plus_tags:
        local, _, domain = e.partition("@")
        e = local.split("+", 1)[0] + "@" + domain
    return e


def email_key(email: str) -> str:
    return "e-" + hashlib.sha256(email.encode()).hexdigest()[:16]


@dataclass
class CanonicalTables:
    """customers: customer_id, email, created_at, one record id column per source that has one
    (salesforce_id, hubspot_id, ...), attributes...;
    transactions: transaction_id, customer_id, occurred_at, amount, source;
    keys: source, source_id -> customer_id for every mirrored customer record;
    rejected: source, record_key, reason;
    line_items: the canonical line_items columns plus source (raw values, for
    segmentation.line_items.clean_line_items), or None when no source has any."""

    customers: pd.DataFrame
    transactions: pd.DataFrame
    keys: pd.DataFrame
    rejected: pd.DataFrame
    line_items: pd.DataFrame | None = None


def canonical_tables(
    mirror_customers: pd.DataFrame,
    mirror_transactions: pd.DataFrame,
    cfg: IdentityConfig,
    id_columns: Mapping[str, str],
    tables: Mapping[str, Mapping[str, pd.DataFrame]] | None = None,
    mirror_line_items: pd.DataFrame | None = None,
) -> CanonicalTables:
    """Join the mirrored records and the tables of keyed sources into the canonical tables.

    id_columns: source name -> the customers column of its record ids (every one becomes a
    column, empty where no record has one); tables: source name -> entity -> table, of each
    table source (customers, transactions, line_items keyed by segsync's customer_id already;
    a row without a `source` is that source's); mirror_line_items: the mirror's line items."""
    keys, rejected = _keys(mirror_customers, cfg)
    attrs = pd.json_normalize(mirror_customers["attributes"].tolist()) if len(mirror_customers) else pd.DataFrame()
    attrs.index = mirror_customers.index
    recs = pd.concat([mirror_customers[["source", "source_id", "created_at"]], attrs], axis=1)
    recs["customer_id"] = keys["customer_id"].to_numpy()
    recs["email"] = keys["email"].to_numpy()
    primary = recs[~keys["duplicate"].to_numpy()]
    customers = _one_row_per_customer(primary, id_columns)
    tx = _transactions(mirror_transactions, keys)
    line_items = _line_items(mirror_line_items, tx, [t["line_items"].assign(source=_source_of(t["line_items"], name))
                                                     for name, t in (tables or {}).items() if "line_items" in t])
    customers, tx = _with_table_sources(customers, tx, tables or {})
    return CanonicalTables(customers.reset_index(drop=True), tx, keys[["source", "source_id", "customer_id"]], rejected,
                           line_items)


def _with_table_sources(customers: pd.DataFrame, tx: pd.DataFrame, tables: Mapping[str, Mapping[str, pd.DataFrame]]
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customers and transactions of the table sources appended (their keys are segsync's)."""
    for name, table in tables.items():
        if "transactions" not in table:
            continue
        k_tx = table["transactions"]
        k_customers = table.get("customers", k_tx[["customer_id"]].dropna().drop_duplicates())
        customers = pd.concat([customers, k_customers.assign(customer_id=k_customers["customer_id"].astype(str))], ignore_index=True)
        tx = pd.concat([tx, k_tx.assign(source=_source_of(k_tx, name))], ignore_index=True)
    return customers, tx


def _source_of(frame: pd.DataFrame, name: str) -> pd.Series | str:
    """Each row's source: its own `source` where it has one, else the table source's name."""
    return frame["source"].fillna(name) if "source" in frame else name


def customer_keys(mirror_customers: pd.DataFrame, cfg: IdentityConfig) -> pd.DataFrame:
    """source, source_id -> customer_id of mirrored customer records: the key canonical_tables gives them."""
    return _keys(mirror_customers, cfg)[0][["source", "source_id", "customer_id"]]


def _keys(mirror: pd.DataFrame, cfg: IdentityConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    email = mirror["email"].map(lambda e: normalise_email(e, cfg)) if len(mirror) else pd.Series(dtype=object)
    key = [email_key(e) if e else f"{s}-{i}" for e, s, i in zip(email, mirror["source"], mirror["source_id"], strict=True)]
    out = pd.DataFrame({"source": mirror["source"], "source_id": mirror["source_id"], "email": email, "customer_id": key}, index=mirror.index)
    order = out.sort_values(["source", "source_id"]).index
    dup = out.loc[order].duplicated(["source", "customer_id"], keep="first").reindex(out.index)
    out["duplicate"] = dup.fillna(False).astype(bool)
    first = out.loc[order].drop_duplicates(["source", "customer_id"]).set_index(["source", "customer_id"])["source_id"]
    rejected = pd.DataFrame(
        [
            {
                "source": r.source,
                "record_key": r.source_id,
                "reason": f"duplicate email in {r.source}: same as record {first.loc[(r.source, r.customer_id)]}; "
                "its purchases count for that customer, no field is written to it",
            }
            for r in out[out["duplicate"]].itertuples(index=False)
        ],
        columns=["source", "record_key", "reason"],
    )
    return out, rejected


def _one_row_per_customer(recs: pd.DataFrame, id_columns: Mapping[str, str]) -> pd.DataFrame:
    cols = [c for c in recs.columns if c not in ("source", "source_id")]
    base = recs.sort_values("created_at").drop_duplicates("customer_id")[cols].set_index("customer_id")
    for src, column in id_columns.items():
        ids = recs.loc[recs["source"] == src].set_index("customer_id")["source_id"]
        base[column] = ids.reindex(base.index)
    return base.reset_index()


def _transactions(mirror_tx: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    lookup = keys.set_index(["source", "source_id"])["customer_id"]
    idx = pd.MultiIndex.from_arrays([mirror_tx["source"], mirror_tx["customer_source_id"].astype(str)])
    return pd.DataFrame(
        {
            "transaction_id": mirror_tx["source"] + "-" + mirror_tx["source_id"].astype(str),
            # an unknown customer stays missing, and the quarantine says so
            "customer_id": lookup.reindex(idx).to_numpy(),
            "occurred_at": mirror_tx["occurred_at"],
            "amount": mirror_tx["amount"],
            "source": mirror_tx["source"],
        }
    )


def _line_items(mirror_lines: pd.DataFrame | None, tx: pd.DataFrame, keyed: list[pd.DataFrame]) -> pd.DataFrame | None:
    """Mirrored line items under their purchase, plus the table sources' (`keyed`, with their
    source). A mirrored line takes its customer and date from its parent purchase, so only lines
    of a purchase the mirror holds (a won Opportunity or deal, not deleted) count; the others
    were never purchases."""
    parts = []
    if mirror_lines is not None and len(mirror_lines):
        parent = mirror_lines["source"] + "-" + mirror_lines["transaction_source_id"].astype("string")
        purchases = tx.drop_duplicates("transaction_id").set_index("transaction_id")
        held = parent.isin(purchases.index).fillna(False).to_numpy(dtype=bool)
        lines, parent = mirror_lines.loc[held], parent[held]
        parts.append(pd.DataFrame({
            "transaction_id": parent.to_numpy(dtype=object),
            "customer_id": purchases["customer_id"].reindex(parent).to_numpy(),
            "occurred_at": purchases["occurred_at"].reindex(parent).to_numpy(),
            "product_id": lines["product_id"].to_numpy(), "product_name": lines["product_name"].to_numpy(),
            "category": lines["category"].to_numpy(), "quantity": lines["quantity"].to_numpy(),
            "unit_price": lines["unit_price"].to_numpy(), "source": lines["source"].to_numpy(),
        }))
    parts += keyed
    if not parts:
        return None
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
