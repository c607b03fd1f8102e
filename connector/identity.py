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
    rejected: source, record_key, reason."""

    customers: pd.DataFrame
    transactions: pd.DataFrame
    keys: pd.DataFrame
    rejected: pd.DataFrame


def canonical_tables(
    mirror_customers: pd.DataFrame,
    mirror_transactions: pd.DataFrame,
    cfg: IdentityConfig,
    id_columns: Mapping[str, str],
    keyed: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None,
) -> CanonicalTables:
    """Join the mirrored records and the tables of keyed sources into the canonical tables.

    id_columns: source name -> the customers column of its record ids (every one becomes a
    column, empty where no record has one); keyed: source name -> (customers, transactions)
    of each table source, whose customer_id is segsync's key already (a transaction without
    a `source` is that source's)."""
    keys, rejected = _keys(mirror_customers, cfg)
    attrs = pd.json_normalize(mirror_customers["attributes"].tolist()) if len(mirror_customers) else pd.DataFrame()
    attrs.index = mirror_customers.index
    recs = pd.concat([mirror_customers[["source", "source_id", "created_at"]], attrs], axis=1)
    recs["customer_id"] = keys["customer_id"].to_numpy()
    recs["email"] = keys["email"].to_numpy()
    primary = recs[~keys["duplicate"].to_numpy()]
    customers = _one_row_per_customer(primary, id_columns)
    tx = _transactions(mirror_transactions, keys)
    for name, (k_customers, k_tx) in (keyed or {}).items():
        customers = pd.concat([customers, k_customers.assign(customer_id=k_customers["customer_id"].astype(str))], ignore_index=True)
        source = k_tx["source"].fillna(name) if "source" in k_tx else name
        tx = pd.concat([tx, k_tx.assign(source=source)], ignore_index=True)
    return CanonicalTables(customers.reset_index(drop=True), tx, keys[["source", "source_id", "customer_id"]], rejected)


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
