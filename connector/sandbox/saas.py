"""The SaaS population: free-tier users, their daily usage events, and conversion to paid.

Each user (a latent behaviour type of the SaasScenario) signs up on a day of months
1..signup_months and is watched for ``observe_days``: daily logins (Poisson around a rate that
drifts by the user's latent trend), product features adopted one at a time, uses of adopted
features, and support tickets. At the cutoff (midnight ``observe_days`` after signup day) the
planted drivers are measured on those days directly from the simulated daily counts, not through
segsync's feature code:

- login_trend_14d: least-squares slope of the last 14 daily login counts x 13 / their mean;
- features_adopted: distinct features adopted by the cutoff;
- ticket_count_30d: tickets in the last 30 days;

and the user converts to paid within ``horizon_days`` with probability
sigmoid(intercept + sum coefficient x driver), at a uniform moment of that window. Usage goes on
after the cutoff (more of it once paid), so features that leaked past the cutoff would show.

Everything is vectorised over users; the only loop is over the days of the observation window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from connector.sandbox.saas_scenario import SaasScenario

_DAY_NS = 86_400 * 10**9
_TREND_DAYS = 14
_USES_PER_LOGIN = 0.5


@dataclass(frozen=True)
class SaasPopulation:
    """customers: customer_id, email, created_at (signup, UTC), plan ("free" | "paid"),
    plan_changed_at (signup, or the conversion moment).
    events: canonical usage events: customer_id, occurred_at (UTC), type (login | feature_used |
    ticket), value (None), feature (the product feature of a feature_used event, else None).
    truth: customer_id, behaviour (latent), signup_month (1-based), cutoff (UTC), the planted
    drivers at the cutoff, p_convert (the planted probability), converted, converted_at.
    end: the moment the data ends (the last user's label window closes)."""

    customers: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    scenario: SaasScenario
    end: pd.Timestamp


def simulate_saas(scenario: SaasScenario, users: int, random_state: int = 0) -> SaasPopulation:
    """Draw ``users`` users of ``scenario``; the same seed gives the same population."""
    if users < 1:
        raise ValueError(f"users must be at least 1, got {users}")
    rng = np.random.default_rng([random_state, 0x5AA5])
    start = pd.Timestamp(scenario.start, tz="UTC")
    months = pd.date_range(start, periods=scenario.signup_months + 1, freq="MS")
    signup_day = rng.integers(0, (months[-1] - start).days, users)
    kinds = rng.choice(len(scenario.behaviours), users, p=[b.share for b in scenario.behaviours])
    latent = _latent(scenario, kinds, rng)
    daily = _observe(scenario, latent, rng)
    drivers = _drivers(daily)
    conv = scenario.conversion
    margin = conv.intercept + sum(coef * drivers[name] for name, coef in conv.coefficients.items())
    p = 1.0 / (1.0 + np.exp(-margin))
    converted = rng.random(users) < p
    day0 = start.value + signup_day.astype(np.int64) * _DAY_NS
    cutoff_ns = day0 + scenario.observe_days * _DAY_NS
    converted_ns = np.where(converted, cutoff_ns + (rng.random(users) * scenario.horizon_days * _DAY_NS).astype(np.int64), -1)
    signup_ns = day0 + (rng.random(users) * 0.04 * _DAY_NS).astype(np.int64)
    events = pd.concat([_observed_events(daily, day0, scenario, rng),
                        _later_logins(latent, cutoff_ns, converted_ns, scenario, rng)], ignore_index=True)
    ids = np.char.add("U", np.char.zfill(np.arange(1, users + 1).astype(str), 6))
    order = np.lexsort((events["user"].to_numpy(), events["occurred_at"].to_numpy(dtype="datetime64[ns]")))
    events = events.iloc[order].reset_index(drop=True)
    events.insert(0, "customer_id", pd.Categorical.from_codes(events.pop("user").to_numpy(), ids))
    utc = lambda ns: pd.to_datetime(ns, utc=True)  # noqa: E731
    customers = pd.DataFrame({
        "customer_id": ids, "email": np.char.add(np.char.replace(ids, "U", "user"), "@saas.example"),
        "created_at": utc(signup_ns), "plan": np.where(converted, "paid", "free"),
        "plan_changed_at": utc(np.where(converted, converted_ns, signup_ns)),
    })
    truth = pd.DataFrame({
        "customer_id": ids, "behaviour": pd.Categorical.from_codes(kinds, [b.name for b in scenario.behaviours]),
        "signup_month": np.searchsorted(months.as_unit("ns").asi8, day0, side="right"), "cutoff": utc(cutoff_ns),
        **drivers, "p_convert": p, "converted": converted,
        "converted_at": utc(np.where(converted, converted_ns, np.iinfo(np.int64).min)),
    })
    end = pd.Timestamp(int(cutoff_ns.max()) + scenario.horizon_days * _DAY_NS, tz="UTC").ceil("D")
    return SaasPopulation(customers, events, truth, scenario, end)


def _latent(scenario: SaasScenario, kinds: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per user: login rate (per day, mid-window), log trend across the window, adoption and ticket rates."""
    spec = scenario.behaviours
    shape = np.array([b.logins_per_day.shape for b in spec])[kinds]
    rate = np.array([b.logins_per_day.rate for b in spec])[kinds]
    return {
        "rate": rng.gamma(shape, 1.0 / rate),
        "trend": rng.normal(np.array([b.trend.mean for b in spec])[kinds], np.array([b.trend.sd for b in spec])[kinds]),
        "adoption": np.array([b.adoption_per_day for b in spec])[kinds],
        "tickets": np.array([b.tickets_per_day for b in spec])[kinds],
        "offset": rng.integers(0, scenario.product_features, len(kinds)),
    }


def _observe(scenario: SaasScenario, latent: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Daily counts over the observation window (users x days): logins, tickets, the day's new
    feature (-1 for none) and uses of already adopted features."""
    n, days, features = len(latent["rate"]), scenario.observe_days, scenario.product_features
    logins = np.zeros((n, days), dtype=np.int16)
    tickets = np.zeros((n, days), dtype=np.int16)
    uses = np.zeros((n, days), dtype=np.int16)
    new = np.full((n, days), -1, dtype=np.int16)
    adopted = np.zeros(n, dtype=np.int64)
    for d in range(days):
        rate = latent["rate"] * np.exp(latent["trend"] * (d / (days - 1) - 0.5))
        logins[:, d] = rng.poisson(rate)
        tickets[:, d] = rng.poisson(latent["tickets"])
        uses[:, d] = np.where(adopted > 0, rng.poisson(_USES_PER_LOGIN * rate), 0)
        adopt = (rng.random(n) < latent["adoption"]) & (adopted < features)
        new[adopt, d] = (latent["offset"][adopt] + adopted[adopt]) % features
        adopted += adopt
    return {"logins": logins, "tickets": tickets, "uses": uses, "new": new, "offset": latent["offset"],
            "adopted": adopted}


def _drivers(daily: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The planted drivers at the cutoff, from the daily counts (an independent computation)."""
    y = daily["logins"][:, -_TREND_DAYS:].astype(float)
    x = np.arange(_TREND_DAYS) - (_TREND_DAYS - 1) / 2
    slope = y @ x / (x @ x)
    mean = y.mean(axis=1)
    trend = np.where(mean > 0, slope * (_TREND_DAYS - 1) / np.where(mean > 0, mean, 1), 0.0)
    return {"login_trend_14d": trend, "features_adopted": daily["adopted"].astype(np.int64),
            "ticket_count_30d": daily["tickets"][:, -30:].sum(axis=1).astype(np.int64)}


def _cells(counts: np.ndarray, day0: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(user, occurred_at ns) of one event per unit of a users x days count matrix, at a random
    moment of its day (after the signup hour)."""
    user, day = np.nonzero(counts)
    reps = counts[user, day].astype(np.int64)
    user, day = np.repeat(user, reps), np.repeat(day, reps)
    moment = day0[user] + day * _DAY_NS + ((0.05 + 0.95 * rng.random(len(user))) * _DAY_NS).astype(np.int64)
    return user, moment


def _observed_events(daily: dict[str, np.ndarray], day0: np.ndarray, scenario: SaasScenario,
                     rng: np.random.Generator) -> pd.DataFrame:
    frames = []
    for kind, counts in (("login", daily["logins"]), ("ticket", daily["tickets"])):
        user, moment = _cells(counts, day0, rng)
        frames.append(pd.DataFrame({"user": user, "occurred_at": moment, "type": kind, "feature": None}))
    user, moment = _cells((daily["new"] >= 0).astype(np.int16), day0, rng)
    first = daily["new"][daily["new"] >= 0]  # row-major, as np.nonzero returns them
    frames.append(pd.DataFrame({"user": user, "occurred_at": moment, "type": "feature_used", "feature": first}))
    user, moment = _cells(daily["uses"], day0, rng)
    # a use on day d picks one of the features adopted before that day
    known = np.maximum(np.cumsum(daily["new"] >= 0, axis=1) - (daily["new"] >= 0), 1)
    day = (moment - day0[user]) // _DAY_NS
    pick = rng.integers(0, known[user, day])
    used = (daily["offset"][user] + pick) % scenario.product_features
    frames.append(pd.DataFrame({"user": user, "occurred_at": moment, "type": "feature_used", "feature": used}))
    out = pd.concat(frames, ignore_index=True)
    names = [f"feature_{k:02d}" for k in range(scenario.product_features)]
    out["feature"] = pd.Categorical.from_codes(out["feature"].fillna(-1).astype(np.int64), names)
    out["occurred_at"] = pd.to_datetime(out["occurred_at"].astype(np.int64), utc=True)
    out["value"] = None
    return out


def _later_logins(latent: dict[str, np.ndarray], cutoff_ns: np.ndarray, converted_ns: np.ndarray,
                  scenario: SaasScenario, rng: np.random.Generator) -> pd.DataFrame:
    """Logins after the cutoff through the label window, at the end-of-window rate, times the paid
    multiplier once converted: what a feature leaking past the cutoff would pick up."""
    horizon = scenario.horizon_days
    rate = latent["rate"] * np.exp(latent["trend"] * 0.5)
    counts = rng.poisson(rate * horizon)
    user = np.repeat(np.arange(len(rate)), counts)
    moment = cutoff_ns[user] + (rng.random(len(user)) * horizon * _DAY_NS).astype(np.int64)
    paid = (converted_ns[user] >= 0) & (moment > converted_ns[user])
    extra = rng.random(len(user)) < (scenario.conversion.paid_usage_multiplier - 1)
    user = np.concatenate([user, user[paid & extra]])
    moment = np.concatenate([moment, moment[paid & extra] + _DAY_NS // 7])
    return pd.DataFrame({"user": user, "occurred_at": pd.to_datetime(moment, utc=True), "type": "login",
                         "feature": pd.Categorical.from_codes(np.full(len(user), -1), [f"feature_{k:02d}" for k in
                                                              range(scenario.product_features)]), "value": None})
