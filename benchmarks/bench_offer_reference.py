"""Online Retail: which definitions reproduce issue 17's reference figures for the baselines.

    .venv/bin/python benchmarks/bench_offer_reference.py               # every definition, then the ranker under the match
    .venv/bin/python benchmarks/bench_offer_reference.py --no-ranker   # the baselines only (about a minute)

The issue quotes, on a split at 2011-09-01 with the next three months as truth: repeat
precision@3 0.368 (hit@3 0.615), popularity 0.109, cross-sell co-occurrence 0.096. segsync's own
protocol (bench_offers.py retail, segmentation.offer_evaluation.evaluate_offers) scores 0.411
(0.683), 0.123 and 0.100 on the same split. This script scores the baselines under one changed
definition at a time, everything else as shipped, all through evaluate_offers:

- who is judged (evaluate_offers' `population`): customers with history who bought in the window
  (shipped; in cross-sell, something new), the same customers in both modes, everyone who bought
  in the window (new customers too), every customer known before the cutoff;
- the truth window: 91 days (shipped; also exactly the three calendar months September to
  November), 90 days, to the data's end (2011-12-09);
- the product key: StockCode (shipped) or Description;
- cleaning: as shipped (cancellations, fee codes, zero prices quarantined), fee codes kept as
  products, zero-priced lines kept, and purchases a later cancellation reverses removed too;
- precision's denominator (evaluate_offers' `slots`): three slots (shipped) or the offers made.

Within each, the repeat and popularity baselines are also scored under other orderings (extra
scorers below): repeat by transactions (shipped), by line count, by quantity, by recency; with
a tie between products (the same count, bought in the same last visit) broken by popularity
(shipped) or in an arbitrary order (StockCode ascending or descending, as a plain sort gives,
or random); with or without filling a short list by popularity. Popularity: share of
customers who bought the product ever (shipped) or in the last 90 days before the cutoff.

Then, for the combination closest to the reference (the largest of the four gaps smallest),
the shipped ranker under that definition, with the reference's baselines in place of segsync's
(so the lift and its paired bootstrap interval are over the strongest of those). Prints wall and
CPU seconds, peak RSS and the load average at the start.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import resource
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

CUTOFF = pd.Timestamp("2011-09-01", tz="UTC")
HORIZON = 91
#: The issue's figures: (mode, method, column) -> value.
REFERENCE = {("any", "repeat", "precision_at_3"): 0.368, ("any", "repeat", "hit_at_3"): 0.615,
             ("any", "popularity", "precision_at_3"): 0.109, ("cross_sell", "cooccurrence", "precision_at_3"): 0.096}
TIE = np.float32(1e-4)  # as segmentation.offer_methods: small enough never to reorder counts


@dataclass
class RepeatAs:
    """The repeat baseline under another definition (an OfferScorer): the customer's own products
    by `order` (transactions, lines, quantity or recency), then by recency (a fraction below one);
    ties broken by popularity, by catalogue order (ascending, or descending: `catalog_desc`) or in
a random order fixed per customer (`random`);
    products never bought get popularity x TIE when `fill`, else are never offered (a short list).
    `items`: the clean line items (lines and quantity are counted from them)."""

    items: pd.DataFrame
    order: str = "transactions"
    ties: str = "popularity"
    fill: bool = True

    def scores(self, history, signals, codes) -> np.ndarray:  # noqa: ANN001 - the OfferScorer protocol
        last = history.last_days.toarray()
        recency = np.where(last > 0, 1.0 / (1.0 + last), 0.0)
        key = {"transactions": history.counts.toarray(), "recency": recency * 1e3}.get(self.order)
        if key is None:
            key = self._own(history, "quantity" if self.order == "quantity" else None)
        out = np.where(last > 0, key + recency, 0.0).astype(np.float64)
        n_p = out.shape[1]
        if self.ties == "popularity":
            out += np.where(last > 0, TIE * signals.popularity, 0.0)
        elif self.ties == "catalog_desc":
            out += np.where(last > 0, 1e-10 * np.arange(n_p) / n_p, 0.0)
        elif self.ties == "random":  # a fixed random order per customer (seeded by the customer's id)
            seeds = [int(h, 16) for h in history.customer_ids.map(lambda c: hashlib.sha256(str(c).encode()).hexdigest()[:8])]
            noise = np.vstack([np.random.default_rng(s).random(n_p) for s in seeds]) if seeds else np.zeros((0, n_p))
            out += np.where(last > 0, 1e-10 * noise, 0.0)
        fill = TIE * np.broadcast_to(signals.popularity, out.shape) if self.fill else -np.inf
        return np.where(last > 0, out, fill).astype(np.float64)

    def _own(self, history, column: str | None) -> np.ndarray:  # noqa: ANN001
        """Lines (column None) or quantity per customer x product of `history`, before its as_of."""
        past = self.items[(self.items["occurred_at"] < history.as_of) & self.items["customer_id"].isin(history.customer_ids)]
        c = history.customer_ids.get_indexer(past["customer_id"])
        p = history.product_ids.get_indexer(past["product_id"])
        ok = (c >= 0) & (p >= 0)
        out = np.zeros(history.counts.shape)
        np.add.at(out, (c[ok], p[ok]), past[column].to_numpy()[ok] if column else 1.0)
        return out


@dataclass
class PopularityAs:
    """Popularity over the last `days` before the cutoff: customers who bought each product then
    (ties: lower catalogue position, as top_k)."""

    items: pd.DataFrame
    days: int

    def scores(self, history, signals, codes) -> np.ndarray:  # noqa: ANN001 - the OfferScorer protocol
        at = history.as_of
        recent = self.items[(self.items["occurred_at"] < at) & (self.items["occurred_at"] >= at - pd.Timedelta(days=self.days))]
        buyers = recent.groupby("product_id")["customer_id"].nunique().reindex(history.product_ids, fill_value=0)
        return np.broadcast_to(buyers.to_numpy(dtype=np.float64), history.counts.shape).copy()


def variants(items: pd.DataFrame) -> dict[str, RepeatAs | PopularityAs]:
    """The extra scorers, named '<baseline> <definition>'."""
    out: dict[str, RepeatAs | PopularityAs] = {}
    for order, ties in itertools.product(("transactions", "lines", "quantity", "recency"), ("popularity", "catalog")):
        if (order, ties) != ("transactions", "popularity"):  # that one is the shipped repeat
            out[f"repeat by {order}, ties {ties}"] = RepeatAs(items, order, ties)
    for ties in ("popularity", "catalog"):
        out[f"repeat by transactions, ties {ties}, no fill"] = RepeatAs(items, "transactions", ties, fill=False)
    for ties in ("catalog_desc", "random"):
        out[f"repeat by transactions, ties {ties}"] = RepeatAs(items, "transactions", ties)
    out["popularity last 90 days"] = PopularityAs(items, 90)
    return out


def line_items(key: str, cleaning: str) -> pd.DataFrame:
    """Online Retail as clean line items under a product key and a cleaning rule."""
    from connector.sandbox.online_retail import online_retail_line_items, read_online_retail
    from segmentation.line_items import NON_PRODUCT_CODES, clean_line_items

    items = online_retail_line_items(read_online_retail())
    if cleaning == "zero prices kept":  # clean_line_items quarantines a non-positive price, not an unknown one
        items["unit_price"] = items["unit_price"].mask(pd.to_numeric(items["unit_price"]) == 0)
    clean, _ = clean_line_items(items, non_product_codes=() if cleaning == "fee codes kept" else NON_PRODUCT_CODES)
    if cleaning == "cancellations netted":
        clean = clean.drop(index=reversed_purchases(items, clean))
    if key == "Description":  # after cleaning, so the fee codes go by their codes either way
        clean["product_id"] = clean["product_name"].str.strip()
    return clean.reset_index(drop=True)


def reversed_purchases(raw: pd.DataFrame, clean: pd.DataFrame) -> pd.Index:
    """Index labels in `clean` of the purchases a later cancellation reverses: the latest earlier
    line of the same customer, product and quantity (one per cancellation)."""
    qty = pd.to_numeric(raw["quantity"], errors="coerce").astype("float64")
    cancels = raw[raw["transaction_id"].astype(str).str.startswith("C") & raw["customer_id"].notna() & (qty < 0)]
    cancels = cancels.assign(quantity=-qty[cancels.index], customer_id=cancels["customer_id"].astype(str).str.strip(),
                             product_id=cancels["product_id"].astype(str).str.strip())
    buys = clean.reset_index().rename(columns={"index": "row"})
    matched = pd.merge_asof(cancels.sort_values("occurred_at")[["occurred_at", "customer_id", "product_id", "quantity"]],
                            buys.sort_values("occurred_at")[["occurred_at", "customer_id", "product_id", "quantity", "row"]],
                            on="occurred_at", by=["customer_id", "product_id", "quantity"], direction="backward",
                            allow_exact_matches=False)
    return pd.Index(matched["row"].dropna().astype(int).unique())


#: One changed definition at a time: name -> (key, cleaning, horizon_days or None for the data's end, population, slots).
DEFINITIONS = {
    "shipped": ("StockCode", "shipped", HORIZON, "returning", "k"),
    "population: same customers in both modes": ("StockCode", "shipped", HORIZON, "returning_any", "k"),
    "population: every window buyer, new ones too": ("StockCode", "shipped", HORIZON, "window", "k"),
    "population: every customer known before": ("StockCode", "shipped", HORIZON, "known", "k"),
    "truth: 90 days": ("StockCode", "shipped", 90, "returning", "k"),
    "truth: to the data's end": ("StockCode", "shipped", None, "returning", "k"),
    "key: Description": ("Description", "shipped", HORIZON, "returning", "k"),
    "cleaning: fee codes kept": ("StockCode", "fee codes kept", HORIZON, "returning", "k"),
    "cleaning: zero prices kept": ("StockCode", "zero prices kept", HORIZON, "returning", "k"),
    "cleaning: cancellations netted": ("StockCode", "cancellations netted", HORIZON, "returning", "k"),
    "precision: over the offers made": ("StockCode", "shipped", HORIZON, "returning", "offered"),
}


def baseline_table(n_boot: int) -> pd.DataFrame:
    """Every baseline and variant under every definition (rows of evaluate_offers, + definition)."""
    from bench_offers import own_segments

    from segmentation.offer_evaluation import evaluate_offers
    from segmentation.offer_methods import BASELINES

    cache: dict[tuple[str, str], pd.DataFrame] = {}
    tables = []
    for name, (key, cleaning, horizon, population, slots) in DEFINITIONS.items():
        items = cache.setdefault((key, cleaning), line_items(key, cleaning))
        days = horizon or (items["occurred_at"].max().normalize() + pd.Timedelta(days=1) - CUTOFF).days
        t0 = time.process_time()
        table = evaluate_offers(items, own_segments(items, CUTOFF), CUTOFF, horizon_days=days, methods=BASELINES,
                                extra=variants(items), n_boot=n_boot, population=population, slots=slots)
        print(f"  {name}: {days} days, {len(items):,} clean lines, {time.process_time() - t0:.1f} s CPU", file=sys.stderr, flush=True)
        tables.append(table.assign(definition=name))
    return pd.concat(tables, ignore_index=True)


def closest(table: pd.DataFrame) -> pd.DataFrame:
    """Per definition and choice of (repeat, popularity, co-occurrence) scorer: the four figures
    and the largest gap to REFERENCE, smallest first."""
    rows = []
    for name, t in table.groupby("definition", sort=False):
        get = t.set_index(["mode", "method"])
        repeats = [m for m in t["method"].unique() if m.startswith("repeat")]
        pops = [m for m in t["method"].unique() if m.startswith("popularity")]
        for rep, pop in itertools.product(repeats, pops):
            got = {"repeat": get.loc[("any", rep), "precision_at_3"], "repeat_hit": get.loc[("any", rep), "hit_at_3"],
                   "popularity": get.loc[("any", pop), "precision_at_3"], "cross_cooc": get.loc[("cross_sell", "cooccurrence"), "precision_at_3"]}
            gap = max(abs(v - r) for v, r in zip(got.values(), REFERENCE.values(), strict=True))
            rows.append({"definition": name, "repeat_method": rep, "popularity_method": pop, **got, "largest_gap": gap})
    return pd.DataFrame(rows).sort_values("largest_gap", kind="stable").reset_index(drop=True)


def ranker_under(best: pd.Series) -> pd.DataFrame:
    """The shipped ranker under the closest definition, its baselines replaced by the reference's
    (names in BASELINES are what evaluate_offers takes the strongest of, for the lift)."""
    from bench_offers import own_segments

    from segmentation.offer_evaluation import evaluate_offers

    key, cleaning, horizon, population, slots = DEFINITIONS[best["definition"]]
    items = line_items(key, cleaning)
    days = horizon or (items["occurred_at"].max().normalize() + pd.Timedelta(days=1) - CUTOFF).days
    scorers = variants(items)
    extra = {"repeat": scorers.get(best["repeat_method"]), "popularity": scorers.get(best["popularity_method"])}
    methods = ["segment_popularity", "cooccurrence", "ranker", *(m for m, s in extra.items() if s is None)]
    return evaluate_offers(items, own_segments(items, CUTOFF), CUTOFF, horizon_days=days, methods=methods,
                           extra={m: s for m, s in extra.items() if s is not None}, n_boot=500, population=population, slots=slots)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-ranker", action="store_true", help="the baselines only")
    ap.add_argument("--n-boot", type=int, default=100, help="bootstrap draws for the baselines' table")
    args = ap.parse_args()
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(k, "1")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.max_colwidth", 60)
    load, t0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    table = baseline_table(args.n_boot)
    shipped = table["method"].isin(["repeat", "popularity", "cooccurrence"])
    cols = ["definition", "mode", "method", "customers", "precision_at_3", "hit_at_3"]
    print("The shipped baselines under each definition:")
    print(table.loc[shipped, cols].round(4).to_string(index=False))
    print("\nEvery repeat and popularity variant, any product, shipped definition:")
    print(table.loc[(table["definition"] == "shipped") & (table["mode"] == "any"), cols[2:]].round(4).to_string(index=False))
    near = closest(table)
    print("\nThe 15 combinations closest to the reference (repeat 0.368, hit 0.615, popularity 0.109, cross-sell co-occurrence 0.096):")
    print(near.head(15).round(4).to_string(index=False))
    print("\nThe closest with segsync's own repeat and popularity, per definition:")
    own = near[(near["repeat_method"] == "repeat") & (near["popularity_method"] == "popularity")]
    print(own.round(4).to_string(index=False))
    if not args.no_ranker:
        best = near.iloc[0]
        print(f"\nThe ranker under the closest definition ({best['definition']}; {best['repeat_method']}; {best['popularity_method']}):")
        ranker = ranker_under(best)
        print(ranker[["mode", "method", "customers", "precision_at_3", "precision_lo", "precision_hi", "hit_at_3", "best_baseline",
                      "lift_vs_best_baseline", "lift_lo", "lift_hi"]].round(3).to_string(index=False))
    print({"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
           "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
           "load_avg_at_start": [round(x, 2) for x in load]})


if __name__ == "__main__":
    main()
