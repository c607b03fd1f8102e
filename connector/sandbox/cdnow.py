"""The CDNOW purchase history as a sandbox population, with latent truth drawn to fit it.

CDNOW_master.txt (Fader, Hardie & Lee 2005 research data, as shipped in the lifetimes 0.11.3
wheel) holds every purchase of the 23,570 customers who first bought in Q1 1997, up to
1998-06-30: 69,659 rows `customer_id date number_of_cds dollar_value`, ids zero-padded, dates
yyyymmdd, 80 rows of $0 (kept: they are purchases).

The sandbox simulates CDNOW's customers beyond 1998-06-30, so each one needs a latent segment,
purchase rate, dropout probability and spend rate. They are drawn from their exact posterior
under the scenario's segments given the customer's history: the segment from the BG/NBD
likelihood (Fader, Hardie & Lee 2005, eq. 6) times the Gamma-Gamma likelihood of total spend,
then alive or not, lambda ~ Gamma(r + x, alpha + T or t_x), p ~ Beta(a, b + x) or
Beta(a + 1, b + x - 1), nu ~ Gamma(q + n p, gamma + total spend). Time is in days; x counts
repeat purchase days (same-day purchases are one, as in the paper).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import betaln, gammaln

from connector.sandbox.population import Population, draw_attributes, utc_series
from connector.sandbox.scenario import Scenario

CDNOW_PATH = Path(__file__).parent / "data" / "CDNOW_master.txt"
CDNOW_END = pd.Timestamp("1998-07-01", tz="UTC")  # the history covers days up to 1998-06-30


def read_cdnow(path: str | Path = CDNOW_PATH) -> pd.DataFrame:
    """CDNOW_master.txt as columns customer_id (str), date (UTC), number_of_cds (int), dollar_value (float)."""
    raw = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    expected = ["customer_id", "date", "number_of_cds", "dollar_value"]
    if list(raw.columns) != expected:
        raise ValueError(f"{path}: expected columns {expected}, got {list(raw.columns)}")
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d", utc=True)
    return raw


def cdnow_transactions(path: str | Path = CDNOW_PATH) -> pd.DataFrame:
    """CDNOW_master.txt as canonical transactions: transaction_id, customer_id (the zero-padded
    id), occurred_at (UTC), amount (float), source ('cdnow')."""
    raw = read_cdnow(path)
    return pd.DataFrame({
        "transaction_id": [f"t{i}" for i in range(len(raw))],
        "customer_id": raw["customer_id"],
        "occurred_at": raw["date"],
        "amount": raw["dollar_value"].astype(float),
        "source": "cdnow",
    })


def cdnow_sample_transactions(path: str | Path) -> pd.DataFrame:
    """The BG/NBD paper's 1/10 sample (CDNOW_sample.txt: no header; master id, sample id,
    yyyymmdd, CDs, dollars) as canonical transactions, customer_id = the sample id."""
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=["master", "sample", "date", "n", "amount"],
                      dtype={"master": str, "sample": str, "date": str})
    return pd.DataFrame({
        "transaction_id": [str(i) for i in range(len(raw))],
        "customer_id": raw["sample"],
        "occurred_at": pd.to_datetime(raw["date"], format="%Y%m%d", utc=True),
        "amount": raw["amount"].astype(float),
    })


def cdnow_population(
    scenario: Scenario, *, random_state: int = 0, path: str | Path = CDNOW_PATH
) -> Population:
    """CDNOW customers and purchases in the canonical shapes, with latent truth for simulation.

    customers: customer_id (the CDNOW id), email (cdnow<id>@example.com), created_at (first
    purchase), one column per scenario attribute (drawn from the customer's latent segment).
    transactions: transaction_id (row number in the file), customer_id, occurred_at, amount,
    number_of_cds, source 'cdnow'.
    """
    raw = read_cdnow(path)
    rng = np.random.default_rng(np.random.SeedSequence([random_state, 0xCD]))
    summary = summarise_history(raw)
    latent = draw_posterior(scenario, summary, rng)
    customers = pd.DataFrame({
        "customer_id": summary.index.to_numpy(dtype=object),
        "email": [f"cdnow{c}@example.com" for c in summary.index],
        "created_at": utc_series(summary["first_ns"].to_numpy()),
    })
    values = scenario.attribute_values()
    for attr, codes in draw_attributes(scenario, latent["segment_code"], rng).items():
        customers[attr] = pd.Categorical.from_codes(codes, categories=values[attr])
    transactions = pd.DataFrame({
        "transaction_id": np.arange(len(raw), dtype=np.int64),
        "customer_id": raw["customer_id"],
        "occurred_at": raw["date"],
        "amount": raw["dollar_value"].astype(float),
        "number_of_cds": raw["number_of_cds"],
        "source": pd.Categorical(["cdnow"] * len(raw)),
    })
    latent_frame = pd.DataFrame({
        "customer_id": customers["customer_id"],
        "segment": pd.Categorical.from_codes(latent["segment_code"], scenario.segment_names),
        **{k: latent[k] for k in ("purchase_rate", "dropout", "spend_shape", "spend_rate", "alive")},
    })
    return Population(customers, transactions, latent_frame, CDNOW_END)


def summarise_history(raw: pd.DataFrame, end: pd.Timestamp = CDNOW_END) -> pd.DataFrame:
    """Per customer (index customer_id): x repeat days, t_x and T in days, n purchases,
    total spend, first purchase (first_ns, int64 ns)."""
    days = (raw["date"] - raw["date"].min()).dt.days.to_numpy()
    frame = pd.DataFrame({"customer_id": raw["customer_id"], "day": days, "amount": raw["dollar_value"]})
    grouped = frame.groupby("customer_id", sort=True)
    first = grouped["day"].min()
    out = pd.DataFrame({
        "x": grouped["day"].nunique() - 1,
        "t_x": grouped["day"].max() - first,
        "T": (end - raw["date"].min()).days - first,
        "n": grouped.size(),
        "spend": grouped["amount"].sum(),
    })
    out["first_ns"] = raw["date"].min().value + first.to_numpy() * 86_400 * 10**9
    return out


def draw_posterior(scenario: Scenario, summary: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One draw of (segment, alive, lambda, p, nu) per customer from the posterior given history."""
    x, t_x, big_t = (summary[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    n, spend = summary["n"].to_numpy(dtype=float), np.maximum(summary["spend"].to_numpy(dtype=float), 0.01)
    loglik, alive_share = [], []
    for seg in scenario.segments:
        alive_ll, dead_ll = _bgnbd_terms(seg.purchase_rate.shape, seg.purchase_rate.rate,
                                         seg.dropout.a, seg.dropout.b, x, t_x, big_t)
        total = np.logaddexp(alive_ll, dead_ll)
        loglik.append(np.log(seg.share) + total + _spend_loglik(seg.spend.p, seg.spend.q, seg.spend.gamma, n, spend))
        alive_share.append(np.exp(alive_ll - total))
    ll = np.vstack(loglik)
    post = np.exp(ll - ll.max(axis=0))
    cdf = np.cumsum(post / post.sum(axis=0), axis=0)
    code = np.minimum((rng.random(x.size) > cdf).sum(axis=0), len(scenario.segments) - 1).astype(np.int8)
    p_alive = np.vstack(alive_share)[code, np.arange(x.size)]
    alive = rng.random(x.size) < p_alive
    par = {k: np.array(v) for k, v in {
        "r": [s.purchase_rate.shape for s in scenario.segments], "alpha": [s.purchase_rate.rate for s in scenario.segments],
        "a": [s.dropout.a for s in scenario.segments], "b": [s.dropout.b for s in scenario.segments],
        "p": [s.spend.p for s in scenario.segments], "q": [s.spend.q for s in scenario.segments],
        "gamma": [s.spend.gamma for s in scenario.segments]}.items()}
    r, alpha, a, b = par["r"][code], par["alpha"][code], par["a"][code], par["b"][code]
    rate = rng.gamma(r + x, 1.0 / (alpha + np.where(alive, big_t, t_x)))
    dead = ~alive & (x > 0)
    dropout = rng.beta(a + dead, b + x - dead)
    spend_rate = rng.gamma(par["q"][code] + n * par["p"][code], 1.0 / (par["gamma"][code] + spend))
    return {"segment_code": code, "alive": alive, "purchase_rate": rate, "dropout": dropout,
            "spend_shape": par["p"][code], "spend_rate": spend_rate}


def _bgnbd_terms(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
                 big_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log P(history, alive at T) and log P(history, dropped out after t_x) under BG/NBD."""
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = common + betaln(a, b + x) - (r + x) * np.log(alpha + big_t)
    with np.errstate(invalid="ignore", divide="ignore"):
        dead = common + betaln(a + 1, np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x)
    return alive, np.where(x > 0, dead, -np.inf)


def _spend_loglik(p: float, q: float, gamma: float, n: np.ndarray, spend: np.ndarray) -> np.ndarray:
    """log density of total spend S of n purchases under Gamma-Gamma, nu integrated out."""
    return (gammaln(q + n * p) - gammaln(q) - gammaln(n * p) + q * np.log(gamma)
            + (n * p - 1) * np.log(spend) - (q + n * p) * np.log(gamma + spend))
