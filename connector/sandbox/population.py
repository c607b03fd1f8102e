"""Synthetic customers with latent segments: a BG/NBD purchase process per segment, at scale.

Each customer belongs to one latent segment of a Scenario and gets (Fader, Hardie & Lee 2005):
- a purchase rate lambda ~ Gamma(r_k, alpha_k) per day and a dropout probability
  p ~ Beta(a_k, b_k): purchases arrive as a Poisson process while the customer is alive, and
  after each purchase the customer drops out with probability p;
- a spend rate nu ~ Gamma(q_k, gamma_k); each purchase spends z ~ Gamma(p_k, nu);
- attributes (country, channel, plan, ...) drawn from the segment's own distribution, so they
  correlate with the segment.

The history starts with each customer's first purchase (their created_at, uniform over the
acquisition period) and ends at `end`. Repeat purchases until dropout J ~ Geometric(p), repeat
purchases = min(Poisson(lambda * T), J); given their count, Poisson event times are
uniform order statistics, drawn from exponential spacings, so nothing is simulated per event
in Python. Customers come in blocks of BLOCK with their own seed, so a block's content does not
depend on how many blocks are read, and `iter_chunks` streams them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from connector.sandbox.scenario import Scenario

BLOCK = 100_000
# Streams are keyed [random_state, purpose, ...]. The purpose tag keeps them apart: SeedSequence
# pads entropy with zeros, so [s, 0] and [s] would be the same stream.
_STREAM = 0x90
_NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class Population:
    """Customers, their purchases, and the latent truth kept apart from them.

    customers: customer_id (str), email (str), created_at (UTC), one categorical per attribute.
    transactions: transaction_id (int64: customer number << 24 | purchase number), customer_id (str), occurred_at (UTC), amount (float),
        source (categorical).
    latent: customer_id, segment (categorical), purchase_rate (per day), dropout (probability
        after each purchase), spend_shape, spend_rate (mean spend = spend_shape / spend_rate),
        alive (not yet dropped out at `as_of`). Ground truth: never written to a CRM.
    """

    customers: pd.DataFrame
    transactions: pd.DataFrame
    latent: pd.DataFrame
    as_of: pd.Timestamp


@dataclass
class _Block:
    """One block of customers as plain arrays (customer index is global)."""

    index: np.ndarray
    created_ns: np.ndarray
    attributes: dict[str, np.ndarray]
    segment: np.ndarray
    rate: np.ndarray
    dropout: np.ndarray
    spend_shape: np.ndarray
    spend_rate: np.ndarray
    alive: np.ndarray
    txn_id: np.ndarray
    txn_customer: np.ndarray
    txn_ns: np.ndarray
    txn_amount: np.ndarray


class PopulationGenerator:
    """Draw a seeded synthetic population from a Scenario's latent segments.

    Parameters: n_customers; history_days (the history ends at `end`, exclusive);
    acquisition_days (first purchases spread uniformly over the first this many days of the
    history; all of it by default); id_prefix for customer_id / email; random_state.
    """

    def __init__(
        self,
        scenario: Scenario,
        n_customers: int,
        *,
        history_days: int = 548,
        acquisition_days: int | None = None,
        end: str | pd.Timestamp = "1998-07-01",
        id_prefix: str = "S",
        random_state: int = 0,
    ) -> None:
        if n_customers < 1:
            raise ValueError(f"n_customers must be >= 1 (got {n_customers})")
        if history_days < 1:
            raise ValueError(f"history_days must be >= 1 (got {history_days})")
        if acquisition_days is not None and not 0 < acquisition_days <= history_days:
            raise ValueError(f"acquisition_days must be in (0, history_days] (got {acquisition_days})")
        self.scenario = scenario
        self.n_customers = n_customers
        self.history_days = history_days
        self.acquisition_days = acquisition_days
        self.end = pd.Timestamp(end, tz="UTC") if pd.Timestamp(end).tzinfo is None else pd.Timestamp(end)
        self.id_prefix = id_prefix
        self.random_state = random_state

    def iter_chunks(self) -> Iterator[Population]:
        """Populations of at most BLOCK customers each, in customer order."""
        for block in self._blocks():
            ids = self._ids(block.index)
            yield self._assemble([block], ids)

    def generate(self) -> Population:
        """The whole population in memory: columnar, about 41 bytes per purchase in the frames
        and about twice that at the peak (benchmarks/bench_population.py)."""
        blocks = list(self._blocks())
        ids = self._ids(np.arange(self.n_customers))
        return self._assemble(blocks, ids)

    # ------------------------------------------------------------------ drawing

    def _blocks(self) -> Iterator[_Block]:
        for b, start in enumerate(range(0, self.n_customers, BLOCK)):
            n = min(BLOCK, self.n_customers - start)
            rng = np.random.default_rng(np.random.SeedSequence([self.random_state, _STREAM, b]))
            yield self._draw(rng, np.arange(start, start + n))

    def _draw(self, rng: np.random.Generator, index: np.ndarray) -> _Block:
        segs = self.scenario.segments
        n = index.size
        seg = rng.choice(len(segs), size=n, p=[s.share for s in segs]).astype(np.int8)
        par = _segment_parameters(self.scenario)
        rate = rng.gamma(par["r"][seg], 1.0 / par["alpha"][seg])
        dropout = rng.beta(par["a"][seg], par["b"][seg])
        spend_rate = rng.gamma(par["q"][seg], 1.0 / par["gamma"][seg])
        attributes = draw_attributes(self.scenario, seg, rng)
        acquisition = self.acquisition_days or self.history_days
        offset = rng.uniform(0.0, acquisition, n)
        observed = self.history_days - offset
        times, customer, seq, alive = draw_purchase_times(rng, rate, dropout, observed)
        spend_shape = par["p"][seg]
        amount = np.round(rng.gamma(spend_shape[customer], 1.0 / spend_rate[customer]), 2)
        start_ns = self.end.value - self.history_days * _NS_PER_DAY
        created_ns = start_ns + np.round(offset * 86_400).astype(np.int64) * 10**9
        txn_ns = created_ns[customer] + np.round(times * 86_400).astype(np.int64) * 10**9
        return _Block(
            index, created_ns, attributes, seg, rate, dropout, spend_shape, spend_rate, alive,
            (index[customer] << 24) | seq, index[customer], txn_ns, amount,
        )

    # ------------------------------------------------------------------ assembling

    def _ids(self, index: np.ndarray) -> np.ndarray:
        p = self.id_prefix
        return np.array([f"{p}{i:07d}" for i in index.tolist()], dtype=object)

    def _assemble(self, blocks: list[_Block], ids: np.ndarray) -> Population:
        base = int(blocks[0].index[0])
        cols = {f: _concat(blocks, f) for f in ("created_ns", "segment", "rate", "dropout",
                                                 "spend_shape", "spend_rate", "alive")}
        values = self.scenario.attribute_values()
        customers = pd.DataFrame({
            "customer_id": ids,
            "email": np.array([f"{c.lower()}@example.com" for c in ids.tolist()], dtype=object),
            "created_at": utc_series(cols.pop("created_ns")),
        })
        for attr, vals in values.items():
            codes = np.concatenate([b.attributes[attr] for b in blocks])
            customers[attr] = pd.Categorical.from_codes(codes, categories=vals)
        latent = pd.DataFrame({
            "customer_id": ids,
            "segment": pd.Categorical.from_codes(cols.pop("segment"), self.scenario.segment_names),
            "purchase_rate": cols["rate"], "dropout": cols["dropout"],
            "spend_shape": cols["spend_shape"], "spend_rate": cols["spend_rate"], "alive": cols["alive"],
        })
        transactions = _transactions(blocks, ids, base)
        return Population(customers, transactions, latent, self.end)


def _concat(blocks: list[_Block], field: str) -> np.ndarray:
    return np.concatenate([getattr(b, field) for b in blocks])


def _transactions(blocks: list[_Block], ids: np.ndarray, base: int) -> pd.DataFrame:
    """Concatenate column by column, freeing each block's column as it goes (bounded peak)."""
    out: dict[str, object] = {"transaction_id": _concat(blocks, "txn_id")}
    for b in blocks:
        b.txn_id = _EMPTY
    customer = _concat(blocks, "txn_customer")
    for b in blocks:
        b.txn_customer = _EMPTY
    # take on the string array itself: one vectorised gather, no Python object per purchase
    out["customer_id"] = pd.array(ids, dtype="str").take(customer - base)
    del customer
    occurred = _concat(blocks, "txn_ns")
    for b in blocks:
        b.txn_ns = _EMPTY
    out["occurred_at"] = utc_series(occurred)
    del occurred
    out["amount"] = _concat(blocks, "txn_amount")
    n = len(out["amount"])  # type: ignore[arg-type]
    out["source"] = pd.Categorical.from_codes(np.zeros(n, np.int8), ["synthetic"])
    return pd.DataFrame(out, copy=False)


_EMPTY = np.empty(0, np.int64)


def utc_series(ns: np.ndarray) -> pd.Series:
    """UTC timestamps from int64 nanoseconds, sharing the array (pd.to_datetime copies ~8x)."""
    return pd.Series(ns, dtype="datetime64[ns, UTC]", copy=False)


def _segment_parameters(scenario: Scenario) -> dict[str, np.ndarray]:
    """Per-segment parameters as arrays indexed by segment code."""
    segs = scenario.segments
    return {
        "r": np.array([s.purchase_rate.shape for s in segs]),
        "alpha": np.array([s.purchase_rate.rate for s in segs]),
        "a": np.array([s.dropout.a for s in segs]),
        "b": np.array([s.dropout.b for s in segs]),
        "p": np.array([s.spend.p for s in segs]),
        "q": np.array([s.spend.q for s in segs]),
        "gamma": np.array([s.spend.gamma for s in segs]),
    }


def draw_attributes(scenario: Scenario, segment: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Attribute codes (into scenario.attribute_values()) drawn from each customer's segment."""
    out: dict[str, np.ndarray] = {}
    for attr, values in scenario.attribute_values().items():
        codes = np.zeros(segment.size, dtype=np.int8)
        uniform = rng.random(segment.size)
        for k, seg in enumerate(scenario.segments):
            dist = seg.attributes.get(attr, {})
            cdf = np.cumsum([dist.get(v, 0.0) for v in values])
            mine = segment == k
            if not dist:
                codes[mine] = -1  # pandas reads code -1 as missing
                continue
            codes[mine] = np.minimum(np.searchsorted(cdf / cdf[-1], uniform[mine], side="right"), len(values) - 1)
        out[attr] = codes
    return out


def draw_purchase_times(
    rng: np.random.Generator, rate: np.ndarray, dropout: np.ndarray, observed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Purchase times (days since the first purchase, which is at 0) under BG/NBD.

    Returns (times, customer, seq, alive): one row per purchase, first purchases included,
    grouped by customer in order; seq numbers a customer's purchases from 0; alive says who has
    not dropped out by the end of `observed`.
    """
    n = rate.size
    # BG/NBD: the customer may drop out after each repeat purchase, so the repeat purchase
    # after which they leave is Geometric(p) on 1, 2, ...
    lifetime = rng.geometric(dropout)
    events = rng.poisson(rate * observed)
    repeats = np.minimum(events, lifetime)
    alive = events < lifetime
    counts = repeats + 1
    total = int(counts.sum())
    customer = np.repeat(np.arange(n), counts)
    starts = np.cumsum(counts) - counts
    seq = np.arange(total) - starts[customer]
    # the first `repeats` of `events` uniform order statistics: U_(j) = S_j / S_(events+1),
    # S the partial sums of Exp(1) spacings; S_(events+1) = S_repeats + Gamma(events - repeats + 1)
    spacing = rng.standard_exponential(int(repeats.sum()))
    partial = np.cumsum(spacing)
    rep_customer = np.repeat(np.arange(n), repeats)
    group_start = np.concatenate(([0.0], partial))[np.cumsum(repeats) - repeats]
    partial -= group_start[rep_customer]
    last = np.zeros(n)
    has = repeats > 0
    last[has] = partial[np.cumsum(repeats)[has] - 1]
    whole = last + rng.gamma(events - repeats + 1.0)
    times = np.zeros(total)
    times[seq > 0] = observed[rep_customer] * partial / whole[rep_customer]
    return times, customer, seq, alive
