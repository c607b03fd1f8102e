"""Next best offer: the top three products per customer, with a score and a reason a rep can read.

`recommend_offers(items, segments, as_of, params, rules)` is the facade the pipeline calls:

1. out of time, it compares every method (segmentation.offer_evaluation) at `as_of -
   horizon_days`, in both modes, when the history is long enough;
2. it takes the configured method, or with method "auto" the best precision@3 of that
   comparison in the configured mode;
3. it scores every customer as of `as_of` under the business rules and keeps three offers.

Steps 1-2 and the ranker's fit are the offer model (segmentation.offer_model): given the
`previous` one, they run again only when its retrain policy says so; otherwise the run only
scores with it. Given each customer's `current` offers, step 3 keeps them unless the new list
is materially better (segmentation.offer_stability, `min_score_gain`).

Tables: items are clean line items (segmentation.line_items); segments has customer_id,
segment_id, segment_name. The offers table has customer_id, offer_1, offer_2, offer_3 (product
name or code), offer_reasons, method, and offer_1_id.., offer_1_score.. for those who need more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from segmentation.offer_evaluation import (
    K,
    Snapshot,
    evaluate_offers,
    evaluation_population,
    train_ranker,
)
from segmentation.offer_methods import BASELINES, METHODS, MODES, Baseline, OfferScorer
from segmentation.offer_model import (
    OfferModel,
    OfferRetrain,
    product_mix,
    retrain_reason,
    segments_version,
)
from segmentation.offer_ranker import OfferRanker
from segmentation.offer_reasons import explain_offers
from segmentation.offer_selection import CompiledRules, OfferRules, select_offers
from segmentation.offer_signals import ProductSignals
from segmentation.offer_stability import Stabilised, stabilise_offers
from segmentation.purchases import EncodedItems, PurchaseHistory, lookup, product_catalog

OFFER_COLUMNS = ("customer_id", "offer_1", "offer_2", "offer_3", "offer_reasons", "method")
FALLBACK = {"any": "repeat", "cross_sell": "cooccurrence"}
ID_COLUMNS = ("transaction_id", "customer_id", "product_id")
#: How deep each customer's fresh ranking goes when their current offers are judged against it.
RANKING_DEPTH = 10


@dataclass(frozen=True)
class OfferParams:
    """Plain mirror of connector.config.OffersConfig."""

    method: str = "auto"
    mode: str = "any"
    label: str = "name"
    horizon_days: int = 90
    evaluate: bool = True
    max_eval_customers: int = 20_000
    n_boot: int = 200
    random_state: int = 0
    n_jobs: int = 1
    retrain: OfferRetrain = field(default_factory=OfferRetrain)
    min_score_gain: float = 0.25

    def __post_init__(self) -> None:
        if self.method not in (*METHODS, "auto"):
            raise ValueError(f"offers method {self.method!r}: expected auto or one of {', '.join(METHODS)}")
        if self.mode not in MODES:
            raise ValueError(f"offers mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.label not in ("name", "code"):
            raise ValueError(f"offers label {self.label!r}: expected name or code")
        if self.n_jobs < 1:
            raise ValueError(f"offers n_jobs {self.n_jobs!r}: expected at least 1")
        if self.min_score_gain < 0:
            raise ValueError(f"offers min_score_gain {self.min_score_gain!r}: expected 0 or more")


@dataclass(frozen=True)
class OfferResult:
    """offers (see module doc); evaluation: the out-of-time table (None when the history is
    shorter than two horizons); method and why; defaults: segment_id -> the segment's own
    three offers (its most popular allowed products), for experiments that compare them;
    model: the offer model used, retrained: why it was refitted this run (None: reused);
    stability: who kept their offers and why the others changed (None without `current`)."""

    offers: pd.DataFrame
    evaluation: pd.DataFrame | None
    method: str
    reason: str
    defaults: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    model: OfferModel | None = None
    retrained: str | None = None
    stability: Stabilised | None = None


def recommend_offers(
    items: pd.DataFrame, segments: pd.DataFrame, as_of: pd.Timestamp, params: OfferParams | None = None,
    rules: OfferRules | None = None, *, previous: OfferModel | None = None, current: pd.DataFrame | None = None,
) -> OfferResult:
    """Three offers for every customer in `segments` or `items` (see module doc).

    previous: the offer model of an earlier run, reused unless `params.retrain` says refit (the
    caller checks it was fitted on the same settings); current: each customer's offers now
    (customer_id, offer_1_id, offer_2_id, offer_3_id: product ids), kept unless materially beaten."""
    params, rules = params or OfferParams(), rules or OfferRules()
    before = items["occurred_at"] < as_of
    past = code_ids(items if before.all() else items[before])
    seg = segments.drop_duplicates("customer_id").set_index("customer_id")
    mix = product_mix(past, as_of, params.horizon_days)
    retrained = retrain_reason(previous, params.retrain, as_of, mix, segments_version(segments))
    model = previous if previous is not None and retrained is None else fit_offer_model(past, seg, as_of, params, mix, segments)
    catalog = product_catalog(past)
    customers = _customer_axis(seg.index, past["customer_id"])
    encoded = EncodedItems.encode(past, catalog.index, customers)
    price = catalog["price"].to_numpy(dtype="float64")

    def today() -> Snapshot:
        return Snapshot.build(encoded, as_of, catalog.index, customers, seg["segment_id"], n_jobs=params.n_jobs)

    def fit() -> OfferScorer:
        return train_ranker(encoded, as_of, catalog.index, customers, seg["segment_id"], horizon_days=params.horizon_days,
                            cross_sell=params.mode == "cross_sell", price=price, random_state=params.random_state,
                            n_jobs=params.n_jobs)

    snap, scorer = _today_and_scorer(model, price, params, today, fit)
    serving = OfferServing.build(model, scorer, catalog, snap.signals, segment_names(seg), rules, params)
    offers, stable = serve_offers(serving, snap.history, snap.signals, current)
    return OfferResult(offers, model.evaluation, model.method, model.reason, serving.defaults(snap.signals), model, retrained,
                       stable)


@dataclass(frozen=True)
class OfferServing:
    """Everything but the customers' own purchases that their offers are worked out from: the
    model and its scorer, the catalog's ids and labels, the rules compiled against it, the
    segments' names and the settings. Product-level only, so an engine that holds the customers
    in parts ships it to each part (serve_offers) and every part answers as the whole would."""

    model: OfferModel
    scorer: OfferScorer
    products: pd.Index
    labels: np.ndarray
    rules: CompiledRules
    segment_names: Mapping[str, str]
    params: OfferParams

    @classmethod
    def build(cls, model: OfferModel, scorer: OfferScorer, catalog: pd.DataFrame, signals: ProductSignals,
              names: Mapping[str, str], rules: OfferRules, params: OfferParams) -> OfferServing:
        labels = (catalog["product_name"] if params.label == "name" else catalog.index.to_series()).astype(str).to_numpy()
        return cls(model, scorer, catalog.index, labels, rules.compile(catalog, signals, names), dict(names), params)

    def defaults(self, signals: ProductSignals) -> dict[str, tuple[str, ...]]:
        """Each segment's most popular products allowed by the rules (its "default offer")."""
        out: dict[str, tuple[str, ...]] = {}
        for row, seg_id in enumerate(signals.segment_ids):
            share = signals.segment_share[row].copy()
            share[~self.rules.allowed | ~self.rules.per_segment[row]] = -np.inf
            top = np.argsort(-share, kind="stable")[:K]
            out[str(seg_id)] = tuple(self.labels[top[np.isfinite(share[top])]])
        return out


def serve_offers(serving: OfferServing, history: PurchaseHistory, signals: ProductSignals,
                 current: pd.DataFrame | None = None) -> tuple[pd.DataFrame, Stabilised | None]:
    """The offers table (module doc) of the customers of `history` (signals read for them:
    ProductSignals.for_customers), kept against their `current` offers when given."""
    params = serving.params
    depth = RANKING_DEPTH if current is not None else K
    picks, scores = select_offers(serving.scorer, history, signals, cross_sell=params.mode == "cross_sell",
                                  rules=serving.rules, k=depth, n_jobs=params.n_jobs)
    stable = None
    if current is not None:
        stable = _stabilise(picks, scores, current, history, signals, serving)
        picks, scores = stable.picks, stable.scores
    reasons = explain_offers(picks, history, signals, serving.model.method, serving.labels, serving.segment_names,
                             params.n_jobs)
    table = _table(history.customer_ids, picks, scores, serving.labels, serving.products.to_numpy(), reasons,
                   serving.model.method)
    return table, stable


def fit_offer_model(past: pd.DataFrame, seg: pd.DataFrame, as_of: pd.Timestamp, params: OfferParams, mix: pd.Series,
                    segments: pd.DataFrame) -> OfferModel:
    """The out-of-time comparison and the choice of method (the ranker is fitted by `offer_scorer`).
    seg: segments indexed by customer_id."""
    return choose_offer_model(_evaluate(past, seg["segment_id"], as_of, params), as_of, params, mix, segments_version(segments))


def choose_offer_model(evaluation: pd.DataFrame | None, as_of: pd.Timestamp, params: OfferParams, mix: pd.Series,
                       version: str | None) -> OfferModel:
    """The offer model given the out-of-time table (None: not evaluated), before its ranker is fitted."""
    method, reason = _choose(params, evaluation)
    return OfferModel(as_of, mix, version, evaluation, method, reason)


def offer_scorer(model: OfferModel, price: np.ndarray, params: OfferParams, fit: Callable[[], OfferScorer]) -> OfferScorer:
    """The model's method as a scorer: the stored ranker re-pointed at today's catalog prices
    (its features are per candidate, so a grown catalog needs no refit), a baseline, else the
    ranker `fit` returns, kept in the model."""
    if model.method == "ranker" and model.ranker is not None:
        return model.ranker.set_params(cross_sell=params.mode == "cross_sell", price=price)
    if model.method in BASELINES:
        return Baseline(model.method)
    scorer = fit()
    if isinstance(scorer, OfferRanker):
        model.ranker = scorer
    return scorer


def _today_and_scorer(model: OfferModel, price: np.ndarray, params: OfferParams, today: Callable[[], Snapshot],
                      fit: Callable[[], OfferScorer]) -> tuple[Snapshot, OfferScorer]:
    """Today's snapshot and the model's scorer (offer_scorer). A ranker that needs fitting trains
    on its own earlier snapshots, never today's, so with n_jobs > 1 today's is built on a
    thread beside them (numpy and scipy release the GIL; the same snapshot and ranker)."""
    if params.n_jobs > 1 and model.method == "ranker" and model.ranker is None:
        with ThreadPoolExecutor(1) as side:
            built = side.submit(today)
            scorer = offer_scorer(model, price, params, fit)
            return built.result(), scorer
    snap = today()
    return snap, offer_scorer(model, price, params, fit)


def segment_names(seg: pd.DataFrame) -> dict[str, str]:
    """segment_id -> its name (the last one given), from segments indexed by customer_id."""
    named = seg.assign(segment_name=seg.get("segment_name", seg["segment_id"])).drop_duplicates("segment_id", keep="last")
    return dict(zip(named["segment_id"].astype(str), named["segment_name"].astype(str), strict=True))


def _stabilise(picks: np.ndarray, scores: np.ndarray, current: pd.DataFrame, history: PurchaseHistory,
               signals: ProductSignals, serving: OfferServing) -> Stabilised:
    """Each customer's current offers (as catalog positions, -2 when gone from it) judged against today's ranking."""
    unique = current.drop_duplicates("customer_id")
    now = unique.set_axis(unique["customer_id"].astype(str).to_numpy()).reindex(history.customer_ids)
    previous = np.full((len(history.customer_ids), K), -1, dtype=np.int64)
    for j in range(K):
        ids = now[f"offer_{j + 1}_id"]
        pos = serving.products.get_indexer(ids.astype(str))
        previous[:, j] = np.where(ids.isna().to_numpy(), -1, np.where(pos >= 0, pos, -2))
    allowed = serving.rules.allowed_at(previous, history, signals.segment_codes)
    if serving.params.mode == "cross_sell":
        rows = np.repeat(np.arange(len(previous)), K)
        allowed &= lookup(history.counts, rows, np.maximum(previous, 0).ravel()).reshape(previous.shape) == 0
    return stabilise_offers(picks, scores, previous, allowed, serving.params.min_score_gain, k=K)


def code_ids(items: pd.DataFrame) -> pd.DataFrame:
    """The id columns as categoricals: one hashing pass each, then every later step works on
    integer codes (a million customers' ids are not hashed again per snapshot). Their categories
    are sorted, so transactions keep one order whatever part of the items holds them."""
    todo = {c: "category" for c in ID_COLUMNS if not isinstance(items[c].dtype, pd.CategoricalDtype)}
    return items.astype(todo) if todo else items


def _customer_axis(segmented: pd.Index, bought: pd.Series) -> pd.Index:
    """Every customer with a segment or a purchase, sorted (bought: a categorical column)."""
    codes = bought.cat.codes.to_numpy()
    seen = np.bincount(codes[codes >= 0], minlength=len(bought.cat.categories)) > 0
    ids = bought.cat.categories[seen].astype(str)
    return ids.append(segmented.astype(str)).unique().sort_values()


def evaluates(params: OfferParams, first: pd.Timestamp | None, as_of: pd.Timestamp) -> bool:
    """Whether the model's fit compares the methods out of time: asked for, and a history (first
    purchase `first`, None: none) of two horizons at least (the ranker needs a horizon of history
    before the evaluation's own training window)."""
    cutoff = as_of - pd.Timedelta(days=params.horizon_days)
    return params.evaluate and first is not None and first <= cutoff - pd.Timedelta(days=params.horizon_days)


def _evaluate(past: pd.DataFrame, segments: pd.Series, as_of: pd.Timestamp, params: OfferParams) -> pd.DataFrame | None:
    if past.empty or not evaluates(params, past["occurred_at"].min(), as_of):
        return None
    cutoff = as_of - pd.Timedelta(days=params.horizon_days)
    methods = METHODS if params.method in ("auto", "ranker") else (*[m for m in METHODS if m != "ranker"],)
    return evaluate_offers(
        evaluation_population(past, params.random_state), segments, cutoff, horizon_days=params.horizon_days, methods=methods,
        max_customers=params.max_eval_customers, n_boot=params.n_boot, random_state=params.random_state,
    )


def _choose(params: OfferParams, evaluation: pd.DataFrame | None) -> tuple[str, str]:
    if params.method != "auto":
        return params.method, "configured"
    if evaluation is None or evaluation.empty:
        m = FALLBACK[params.mode]
        return m, f"auto: history shorter than two horizons, so no out-of-time comparison; {m} by default"
    rows = evaluation[evaluation["mode"] == params.mode].sort_values("precision_at_3", ascending=False)
    best = rows.iloc[0]
    return str(best["method"]), f"auto: best out-of-time precision@3 in {params.mode} mode ({best['precision_at_3']:.3f}){_margin(rows, best)}"


def _margin(rows: pd.DataFrame, best: pd.Series) -> str:
    """How far the chosen method is above the best baseline (or, for a baseline, the runner-up)."""
    if "lift_vs_best_baseline" not in rows or pd.isna(best.get("lift_vs_best_baseline")):
        return ""
    if best["method"] != best["best_baseline"]:
        return (f", {best['lift_vs_best_baseline']:+.1%} over the best baseline {best['best_baseline']} "
                f"(95 % bootstrap interval {best['lift_lo']:+.1%} to {best['lift_hi']:+.1%})")
    if len(rows) < 2:
        return ""
    second = rows.iloc[1]
    return f", ahead of {second['method']} ({second['precision_at_3']:.3f}, {-second['lift_vs_best_baseline']:.1%} below it)"


def _table(customers, picks, scores, labels, ids, reasons, method) -> pd.DataFrame:
    out = pd.DataFrame({"customer_id": customers.astype(str)})
    for j in range(K):
        got = picks[:, j] >= 0
        out[f"offer_{j + 1}"] = np.where(got, labels[np.maximum(picks[:, j], 0)], None)
    out["offer_reasons"] = reasons
    out["method"] = method
    for j in range(K):
        got = picks[:, j] >= 0
        out[f"offer_{j + 1}_id"] = np.where(got, ids[np.maximum(picks[:, j], 0)], None)
        out[f"offer_{j + 1}_score"] = np.round(scores[:, j].astype("float64"), 4)
    return out


def top_offers_by_segment(offers: pd.DataFrame, segments: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """segment_id, segment_name, rank, offer, customers: the offers made most often per segment."""
    long = offers.melt(id_vars="customer_id", value_vars=[f"offer_{j + 1}" for j in range(K)], value_name="offer").dropna(subset=["offer"])
    long = long.merge(segments[["customer_id", "segment_id", "segment_name"]], on="customer_id")
    counts = long.groupby(["segment_id", "segment_name", "offer"]).size().rename("customers").reset_index()
    counts = counts.sort_values(["segment_id", "customers", "offer"], ascending=[True, False, True])
    top = counts.groupby("segment_id").head(n).copy()
    top["rank"] = top.groupby("segment_id").cumcount() + 1
    return top[["segment_id", "segment_name", "rank", "offer", "customers"]].reset_index(drop=True)
