"""`segsync demo --scenario saas`: the SaaS conversion case end to end, with its ground truth.

1. Simulate free-tier users of the SaaS scenario (connector.sandbox.saas): latent behaviour
   types, daily usage events, conversion to paid within 90 days driven by planted drivers.
2. Write what a warehouse would hold into the demo folder: customers.csv (plan, plan_changed_at),
   events.csv (canonical usage events), truth.csv (the ground truth, kept apart), and the same
   as warehouse.duckdb (with payments: the won deals) for sources.sql when DuckDB is installed
   (tests/e2e/test_saas_cycle.py runs `segsync run` on it).
3. Read events.csv back as a source would, quarantine bad rows, and build each user's usage
   features as of their cutoff (segmentation.events; nothing after the cutoff counts).
4. Conversion as the target, a chronological split by signup month (train on months 1-6,
   validate on month 7), a gradient-boosted model (segmentation.conversion).
5. Print the table: estimated against planted drivers, ROC AUC against an oracle that knows
   each user's planted probability; write scores.csv (probability and reasons in words).

Training rows of month 6 have labels that close after month 7's cutoffs: fine for a simulator
whose process does not change over time, and said here so nobody copies it to production.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from connector.sandbox.saas import SaasPopulation, simulate_saas
from connector.sandbox.saas_scenario import SaasScenario, load_saas_scenario
from segmentation.conversion import ConversionStudy, study_conversion
from segmentation.event_features import build_event_features
from segmentation.events import EventFeatureSpec, EventLog, clean_events
from segmentation.reasons import reason_codes

VALIDATE_MONTH = 7
SPEC = EventFeatureSpec(types=("login", "feature_used", "ticket"), windows=(7, 14, 30, 90), trend_days=14)


@dataclass
class SaasOutcome:
    """The study, the driver table (see driver_table) and the AUCs on the validation month."""

    study: ConversionStudy
    drivers: pd.DataFrame
    auc: float
    oracle_auc: float

    @property
    def top3_match(self) -> bool:
        planted = set(self.drivers.loc[self.drivers["planted_coefficient"].notna(), "feature"])
        return set(self.study.drivers.index[:3]) == planted


def user_features(events: pd.DataFrame, truth: pd.DataFrame, spec: EventFeatureSpec = SPEC) -> pd.DataFrame:
    """Each user's usage features as of their own cutoff (truth: customer_id, cutoff)."""
    cutoffs = truth.set_index("customer_id")["cutoff"]
    log = EventLog.from_frame(events, spec, pd.Index(cutoffs.index))
    return build_event_features(log, cutoffs, spec)


def evaluate(population: SaasPopulation, events: pd.DataFrame | None = None, random_state: int = 0) -> SaasOutcome:
    """Features, the chronological study and the comparison with the planted truth."""
    truth = population.truth.set_index("customer_id")
    features = user_features(population.events if events is None else events, population.truth)
    study = study_conversion(features, truth["converted"].astype(int), truth["cutoff"], truth["signup_month"],
                             VALIDATE_MONTH, population.scenario.horizon_days, random_state)
    held = study.validation.index
    oracle = float(roc_auc_score(study.validation["label"], truth.loc[held, "p_convert"]))
    table = driver_table(study, population.scenario, truth.loc[held])
    return SaasOutcome(study, table, float(study.metrics["roc_auc"]), oracle)


def driver_table(study: ConversionStudy, scenario: SaasScenario, truth: pd.DataFrame) -> pd.DataFrame:
    """feature, planted_coefficient, planted_effect (mean |coefficient x (x - mean x)| over the
    validation users: the planted model's own mean |contribution|), planted_rank,
    estimated_effect (the model's mean |contribution|), estimated_rank; for the planted
    drivers and the model's top 3."""
    planted = scenario.conversion.coefficients
    effect = {name: float(np.mean(np.abs(coef * (truth[name] - truth[name].mean())))) for name, coef in planted.items()}
    planted_rank = {name: i + 1 for i, name in enumerate(sorted(effect, key=effect.__getitem__, reverse=True))}
    estimated_rank = {name: i + 1 for i, name in enumerate(study.drivers.index)}
    names = list(dict.fromkeys([*sorted(effect, key=planted_rank.__getitem__), *study.drivers.index[:3]]))
    return pd.DataFrame({
        "feature": names,
        "planted_coefficient": [planted.get(n, np.nan) for n in names],
        "planted_effect": [effect.get(n, 0.0) for n in names],
        "planted_rank": [planted_rank.get(n) for n in names],
        "estimated_effect": [float(study.drivers.get(n, 0.0)) for n in names],
        "estimated_rank": [estimated_rank.get(n) for n in names],
    })


def render(outcome: SaasOutcome) -> str:
    """The table a stakeholder reads, then the AUC line."""
    lines = [f"{'driver':<24} {'planted coef':>12} {'planted effect':>14} {'rank':>5} {'estimated effect':>16} {'rank':>5}"]
    for r in outcome.drivers.itertuples(index=False):
        coef = "-" if np.isnan(r.planted_coefficient) else f"{r.planted_coefficient:+.2f}"
        lines.append(f"{r.feature:<24} {coef:>12} {r.planted_effect:>14.3f} {r.planted_rank or '-':>5} "
                     f"{r.estimated_effect:>16.3f} {r.estimated_rank or '-':>5}")
    v = outcome.study.validation
    lines.append(f"validation (signup month {VALIDATE_MONTH}): {len(v):,} users, {v['label'].mean():.1%} converted; "
                 f"ROC AUC model {outcome.auc:.4f}, oracle {outcome.oracle_auc:.4f}, "
                 f"gap {outcome.oracle_auc - outcome.auc:+.4f}; top-3 drivers are the planted ones: "
                 f"{'yes' if outcome.top3_match else 'NO'}")
    return "\n".join(lines)


def write_warehouse(population: SaasPopulation, out: Path) -> dict[str, Path]:
    """customers.csv, events.csv and truth.csv in ``out`` (what a SQL source or DuckDB reads)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("customers", "events", "truth")}
    population.customers.to_csv(paths["customers"], index=False)
    population.events[["customer_id", "occurred_at", "type", "value", "feature"]].to_csv(
        paths["events"], index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    population.truth.to_csv(paths["truth"], index=False)
    return paths


def write_duckdb(population: SaasPopulation, path: Path, price: float = 49.0) -> Path:
    """The same warehouse as one DuckDB file for sources.sql: customers (customer_id, email,
    created_at, plan, plan_changed_at, updated_at), events (event_id, customer_id, type,
    occurred_at, properties: JSON text with the feature), payments (payment_id, customer_id,
    amount, paid_at: the first payment of each conversion, the won deal). Needs segsync[sql]."""
    import duckdb

    events = population.events
    feature = events["feature"].astype(object)
    tables = {
        "customers": population.customers.assign(updated_at=population.end),
        "events": pd.DataFrame({
            "event_id": np.arange(1, len(events) + 1), "customer_id": events["customer_id"].astype(str),
            "type": events["type"].astype(str), "occurred_at": events["occurred_at"],
            "properties": np.where(feature.notna(), '{"feature": "' + feature.fillna("").astype(str) + '"}', None)}),
        "payments": _payments(population, price),
    }
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as db:
        for name, frame in tables.items():
            db.register("frame", frame)
            db.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")  # noqa: S608 - fixed table names
            db.unregister("frame")
    return path


def _payments(population: SaasPopulation, price: float) -> pd.DataFrame:
    paid = population.truth[population.truth["converted"]]
    return pd.DataFrame({"payment_id": np.arange(1, len(paid) + 1), "customer_id": paid["customer_id"].to_numpy(),
                         "amount": price, "paid_at": paid["converted_at"].to_numpy()})


def read_events_csv(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean, rejected) canonical events from a CSV with customer_id, occurred_at, type, value, feature."""
    raw = pd.read_csv(path, dtype={"customer_id": str, "type": str, "feature": str}, keep_default_na=True)
    return clean_events(raw)


def run_saas_demo(args: argparse.Namespace, say: Callable[[str], None] = print) -> int:
    out = Path(args.out).resolve()
    users = int(getattr(args, "users", None) or 20_000)
    started = time.monotonic()
    scenario = load_saas_scenario("saas")
    say(f"segsync demo --scenario saas (seed {args.seed}, {users:,} users) in {out}")
    population = simulate_saas(scenario, users, random_state=args.seed)
    paths = write_warehouse(population, out)
    try:
        paths["duckdb"] = write_duckdb(population, out / "warehouse.duckdb")
    except ImportError:
        say("(no DuckDB: pip install 'segsync[sql]' to also get warehouse.duckdb for sources.sql)")
    say(f"simulated {users:,} free-tier users and {len(population.events):,} usage events; wrote "
        f"{', '.join(p.name for p in paths.values())}")
    events, rejected = read_events_csv(paths["events"])
    if len(rejected):
        say(f"{len(rejected)} event row(s) quarantined: {rejected['reason'].iloc[0]} ...")
    outcome = evaluate(population, events, random_state=args.seed)
    say("\nconversion to paid within 90 days: estimated against planted drivers (mean |contribution| to the log-odds)")
    say(render(outcome))
    _write_scores(outcome, population, events, out / "scores.csv")
    say(f"\nscores and reasons of the validation month: {out / 'scores.csv'} ({time.monotonic() - started:.0f} s)")
    return 0 if outcome.top3_match else 1


def _write_scores(outcome: SaasOutcome, population: SaasPopulation, events: pd.DataFrame, path: Path) -> None:
    held = outcome.study.validation.index
    model = outcome.study.model
    columns = list(model.encoder_.columns_)
    features = user_features(events, population.truth[population.truth["customer_id"].isin(held)]).loc[held, columns]
    shares = model.contributions(features).to_numpy()
    table = pd.DataFrame({"customer_id": held, "convert_90d": outcome.study.validation["probability"].to_numpy(),
                          "reasons": reason_codes(shares, features)})
    table.to_csv(path, index=False)
