"""Next best offer: which method, which mode, the business rules, and what is written."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connector.config.base import Strict


class OfferRulesConfig(Strict):
    """Product ids (codes) or category names; `eligible` is keyed by segment id or name."""

    exclude_products: list[str] = Field(default_factory=list, description="Never offered.")
    exclude_categories: list[str] = Field(default_factory=list, description="Never offered.")
    eligible: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Segment id or name -> the only products or categories its customers may be offered.",
    )
    non_repeatable: list[str] = Field(
        default_factory=list, description="Products or categories never offered again to someone who bought them."
    )
    max_per_category: int | None = Field(None, ge=1, le=3, description="Diversity: at most this many offers of one category.")


class OffersConfig(Strict):
    """Three offers per customer, computed whenever the data has line items (products)."""

    enabled: bool = True
    method: Literal["auto", "popularity", "segment_popularity", "repeat", "cooccurrence", "ranker"] = Field(
        "auto", description="auto: the best out-of-time precision@3 among all methods in this mode."
    )
    mode: Literal["any", "cross_sell"] = Field(
        "any", description="any: re-purchases count; cross_sell: only products the customer never bought."
    )
    write: Literal["name", "code"] = Field("name", description="offer_1..3 hold the product name or its code.")
    horizon_days: int = Field(90, ge=7, le=366, description="The out-of-time window: learn and judge on this many days.")
    evaluate: bool = Field(True, description="Compare every method out of time each run (the report's table).")
    max_eval_customers: int = Field(20_000, ge=100, description="Customers sampled for the out-of-time table.")
    non_product_codes: list[str] | None = Field(
        None, description="Line items with these codes are fees, not products (default: postage, carriage, manual, "
        "discount, bank charges, Amazon fees, charity, samples, bad debt: POST, DOT, C2, M, m, D, S, B, BANK CHARGES, "
        "AMAZONFEE, CRUK, PADS)."
    )
    rules: OfferRulesConfig = Field(default_factory=OfferRulesConfig)
    random_state: int = 0
    n_jobs: int = Field(1, ge=1, le=64, description="Threads that score customers in parallel chunks (the offers do not depend "
                        "on it).")
