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


class OfferRetrainPolicy(Strict):
    """When the offer model (the out-of-time table, the chosen method, the fitted ranker) is
    refitted; between retrains every run only scores with it. A change of the offer settings that
    shape the model (method, mode, horizon_days, evaluate, max_eval_customers, non_product_codes,
    random_state) always retrains."""

    every_days: int = Field(7, ge=0, le=3650, description="Refit at least this often (data days); 0 refits every run.")
    product_shift_threshold: float | None = Field(
        0.2, gt=0, le=1, description="Refit when the product mix of the last horizon_days moved this much since the "
        "model was fitted (total variation distance of the products' shares of line items, 0 to 1); null: never.",
    )


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
    evaluate: bool = Field(True, description="Compare every method out of time at each retrain (the report's table).")
    max_eval_customers: int = Field(20_000, ge=100, description="Customers sampled for the out-of-time table.")
    non_product_codes: list[str] | None = Field(
        None, description="Line items with these codes are fees, not products (default: postage, carriage, manual, "
        "discount, bank charges, Amazon fees, charity, samples, bad debt: POST, DOT, C2, M, m, D, S, B, BANK CHARGES, "
        "AMAZONFEE, CRUK, PADS)."
    )
    rules: OfferRulesConfig = Field(default_factory=OfferRulesConfig)
    retrain: OfferRetrainPolicy = Field(default_factory=OfferRetrainPolicy)
    min_score_gain: float = Field(
        0.25, ge=0, le=10, description="Stability: a customer's offers change only when a product not among them "
        "scores at least this much (relative, 0.25 = 25 %) above the weakest of them, or one of them is no longer "
        "allowed (bought when non-repeatable, excluded, not eligible in the segment, owned in cross-sell mode); "
        "0 always takes the newest top three.",
    )
    random_state: int = 0
    n_jobs: int = Field(1, ge=1, le=64, description="Threads that score customers in parallel chunks (the offers do not depend "
                        "on it).")
