"""The synthetic generator: configured segments, rates, spend and attributes come out within
sampling error (tolerance: 4 standard errors of the statistic at the test's sample size)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from connector.sandbox.population import BLOCK, PopulationGenerator
from connector.sandbox.scenario import Scenario, load_scenario

Z = 4.0  # standard errors allowed


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, dtypes and values (assert_frame_equal is slow on str columns)."""
    assert list(a.columns) == list(b.columns)
    assert list(a.dtypes) == list(b.dtypes)
    assert a.equals(b)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario("default")


@pytest.fixture(scope="module")
def population(scenario):
    return PopulationGenerator(scenario, 120_000, history_days=365, end="2026-01-01", random_state=11).generate()


def test_canonical_shapes_and_dtypes(population, scenario):
    c, t, lat = population.customers, population.transactions, population.latent
    assert list(c.columns) == ["customer_id", "email", "created_at", "country", "channel", "plan"]
    assert list(t.columns) == ["transaction_id", "customer_id", "occurred_at", "amount", "source"]
    assert list(lat.columns) == ["customer_id", "segment", "purchase_rate", "dropout", "spend_shape",
                                 "spend_rate", "alive"]
    assert str(c["created_at"].dtype) == "datetime64[ns, UTC]" == str(t["occurred_at"].dtype)
    assert c["customer_id"].is_unique and c["email"].is_unique and t["transaction_id"].is_unique
    assert c["customer_id"].iloc[0] == "S0000000" and c["email"].iloc[0] == "s0000000@example.com"
    assert list(lat["segment"].cat.categories) == scenario.segment_names
    assert set(t["customer_id"]) == set(c["customer_id"])  # everyone has a first purchase
    assert (t["amount"] >= 0).all() and t["amount"].dtype == float


def test_purchases_lie_between_first_purchase_and_end(population):
    t = population.transactions.merge(population.customers[["customer_id", "created_at"]], on="customer_id")
    assert (t["occurred_at"] >= t["created_at"]).all()
    assert (t["occurred_at"] < population.as_of).all()
    first = t.groupby("customer_id")["occurred_at"].min()
    created = population.customers.set_index("customer_id")["created_at"]
    pd.testing.assert_series_equal(first.sort_index(), created.sort_index(), check_names=False)
    # within a customer, transaction ids follow time
    assert (t.sort_values("transaction_id").groupby("customer_id")["occurred_at"].diff().dropna()
            >= pd.Timedelta(0)).all()
    # created_at is uniform over the 365 days of history: each quarter of it holds a quarter
    start = population.as_of - pd.Timedelta(days=365)
    share = (population.customers["created_at"] - start) / pd.Timedelta(days=365)
    q = pd.cut(share, [0, 0.25, 0.5, 0.75, 1.0]).value_counts(normalize=True)
    n = len(population.customers)
    assert np.all(np.abs(q - 0.25) < Z * np.sqrt(0.25 * 0.75 / n))


def test_segment_shares_match_configuration(population, scenario):
    n = len(population.latent)
    observed = population.latent["segment"].value_counts(normalize=True)
    for seg in scenario.segments:
        se = np.sqrt(seg.share * (1 - seg.share) / n)
        assert abs(observed[seg.name] - seg.share) < Z * se, seg.name


def test_latent_rates_and_dropout_match_their_priors(population, scenario):
    lat = population.latent
    for seg in scenario.segments:
        mine = lat[lat["segment"] == seg.name]
        r, alpha = seg.purchase_rate.shape, seg.purchase_rate.rate
        se = np.sqrt(r / alpha**2 / len(mine))
        assert abs(mine["purchase_rate"].mean() - r / alpha) < Z * se, seg.name
        a, b = seg.dropout.a, seg.dropout.b
        var = a * b / ((a + b) ** 2 * (a + b + 1))
        assert abs(mine["dropout"].mean() - a / (a + b)) < Z * np.sqrt(var / len(mine)), seg.name


def test_attributes_follow_each_segments_distribution(population, scenario):
    joined = population.customers.merge(population.latent[["customer_id", "segment"]], on="customer_id")
    for seg in scenario.segments:
        mine = joined[joined["segment"] == seg.name]
        for attr, dist in seg.attributes.items():
            freq = mine[attr].value_counts(normalize=True)
            for value, p in dist.items():
                assert abs(freq[value] - p) < Z * np.sqrt(p * (1 - p) / len(mine)), (seg.name, attr, value)
    # and so the attributes carry information about the segment
    premium = joined[joined["plan"] == "premium"]["segment"].value_counts(normalize=True)
    assert premium["loyal"] > 2 * 0.15


def test_first_purchase_spend_matches_gamma_gamma_mean(population, scenario):
    t = population.transactions
    first = t.loc[t["transaction_id"] % (1 << 24) == 0, ["customer_id", "amount"]]
    first = first.merge(population.latent[["customer_id", "segment"]], on="customer_id")
    for seg in scenario.segments:
        z = first.loc[first["segment"] == seg.name, "amount"]
        se = z.std() / np.sqrt(len(z))
        assert abs(z.mean() - seg.spend.mean) < Z * se, seg.name


def test_repeat_purchases_match_the_bgnbd_expectation():
    """E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]
    (Fader, Hardie & Lee 2005, eq. 9), with everyone observed for the same t."""
    r, alpha, a, b = 0.8, 40.0, 2.5, 6.0
    scen = Scenario.model_validate({"name": "one", "segments": [{
        "name": "only", "share": 1.0, "purchase_rate": {"shape": r, "rate": alpha},
        "dropout": {"a": a, "b": b}, "spend": {"p": 6, "q": 4, "gamma": 15}}]})
    n, days = 60_000, 200
    pop = PopulationGenerator(scen, n, history_days=days, acquisition_days=1, end="2026-01-01",
                              random_state=5).generate()
    repeats = pop.transactions.groupby("customer_id").size().to_numpy() - 1
    t = days - 0.5  # first purchases fall within the first day
    expected = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    se = repeats.std() / np.sqrt(n)
    assert abs(repeats.mean() - expected) < Z * se
    # and a customer alive at the end has made fewer repeats than their dropout allowed
    assert pop.latent["alive"].mean() > 0.3


def test_same_seed_same_population_and_different_seed_differs(scenario):
    one = PopulationGenerator(scenario, 5_000, random_state=3).generate()
    two = PopulationGenerator(scenario, 5_000, random_state=3).generate()
    other = PopulationGenerator(scenario, 5_000, random_state=4).generate()
    for name in ("customers", "transactions", "latent"):
        assert_same(getattr(one, name), getattr(two, name))
    assert not one.latent["segment"].equals(other.latent["segment"])
    assert len(one.transactions) != len(other.transactions) or not one.transactions["amount"].equals(
        other.transactions["amount"])


def test_chunks_stream_the_same_population_block_by_block(scenario):
    gen = PopulationGenerator(scenario, BLOCK + 2_000, history_days=60, random_state=9)
    chunks = list(gen.iter_chunks())
    assert [len(c.customers) for c in chunks] == [BLOCK, 2_000]
    whole = gen.generate()
    for name in ("customers", "transactions", "latent"):
        joined = pd.concat([getattr(c, name) for c in chunks], ignore_index=True)
        assert_same(joined, getattr(whole, name))
    # a block does not depend on how many customers follow it
    shorter = PopulationGenerator(scenario, BLOCK, history_days=60, random_state=9).generate()
    assert_same(shorter.latent, whole.latent.iloc[:BLOCK])


@pytest.mark.parametrize("kwargs", [{"n_customers": 0}, {"history_days": 0},
                                    {"acquisition_days": 500, "history_days": 100}])
def test_bad_parameters_are_refused(scenario, kwargs):
    args = {"n_customers": 10, **kwargs}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PopulationGenerator(scenario, **args)
