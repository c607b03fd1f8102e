"""Champion/challenger through real cycles: a daemon over simulated days with planted drift,
tracked in MLflow (queried with MlflowClient), a forced worse challenger that is not
promoted, `segsync models` overrides, and the same writes with and without MLflow."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connector.cli import main as cli_main
from connector.config import load_config
from connector.daemon import Daemon
from connector.state import StateStore
from connector.state.models import CHALLENGER, CHAMPION
from segmentation.scoring import ScoreResult

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

START = pd.Timestamp("2026-03-01", tz="UTC")
CONFIG = """\
version: 1
state: {{path: state.sqlite}}
sources:
  files: {{transactions: transactions.csv}}
destinations:
  files: {{path: out.csv}}
segmentation:
  method: kmeans
  k: 3
  sample_size: 1000
  retrain: {{every_days: 365, psi_threshold: 0.25, share_shift_threshold: null}}
scoring:
  targets:
    - {{name: buy_90d, kind: propensity, horizon_days: 60}}
  models: [logistic]
  retrain_every_days: 30
  clv: {{enabled: false}}
tracking:
  {tracking}
"""


def population(n: int = 500, seed: int = 3) -> pd.DataFrame:
    from connector.sandbox.population import PopulationGenerator
    from connector.sandbox.scenario import load_scenario

    pop = PopulationGenerator(load_scenario("default"), n, history_days=720, end=START, random_state=seed).generate()
    return pop.transactions[["customer_id", "amount", "occurred_at"]]


def write_until(tmp: Path, tx: pd.DataFrame, end: pd.Timestamp, *, drift_from: pd.Timestamp | None = None) -> None:
    """The transactions known on `end`; from `drift_from` on, every purchase is 8x bigger and
    three times as frequent (a planted shift the segmentation's PSI check sees)."""
    rows = tx[tx["occurred_at"] < end].copy()
    if drift_from is not None:
        late = rows["occurred_at"] >= drift_from
        rows.loc[late, "amount"] *= 8
        rows = pd.concat([rows, rows[late], rows[late].assign(occurred_at=rows.loc[late, "occurred_at"] - pd.Timedelta(hours=1))])
    pd.DataFrame({"CustomerID": rows["customer_id"].astype(str), "amount": rows["amount"].round(2),
                  "date": rows["occurred_at"].dt.strftime("%Y-%m-%d")}).to_csv(tmp / "transactions.csv", index=False)


def cycle(daemon: Daemon, store: StateStore) -> str:
    """One scheduled cycle; its status (the error when it failed)."""
    daemon.cycle(store)
    result = daemon.results[-1]
    return result.status if result.status != "failed" else f"failed: {result.error}"


def config(tmp: Path, tracking: str) -> Path:
    path = tmp / "segsync.yaml"
    path.write_text(CONFIG.format(tracking=tracking), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    return population()


def test_daemon_days_with_planted_drift_are_tracked_in_mlflow(tmp_path: Path, tx: pd.DataFrame) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = load_config(config(tmp_path, f"{{kind: mlflow, uri: '{uri}', experiment: drift-test}}"), env={})
    daemon = Daemon(cfg)
    ends = [START - pd.Timedelta(days=d) for d in (210, 150, 90, 30, 0)]
    with StateStore(tmp_path / "state.sqlite") as store:
        for i, end in enumerate(ends):
            write_until(tmp_path, tx, end, drift_from=ends[3] - pd.Timedelta(days=45) if i >= 3 else None)
            assert cycle(daemon, store) == "succeeded"
        versions = store.models.versions()
        history = store.models.alias_history("score", "buy_90d")
    score_versions = [v for v in versions if v.kind == "score"]
    seg_retrains = [v for v in versions if v.kind == "segmentation" and v.meta.get("retrained")]
    assert len(score_versions) == len(ends)  # 60 days between cycles > retrain_every_days 30
    assert len(seg_retrains) >= 2 and any("psi" in v.meta["trigger"].lower() for v in seg_retrains[1:])

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("drift-test")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == len(score_versions) + len(seg_retrains)  # one run per retrain
    by_family: dict[str, list] = {}
    for run in runs:
        by_family.setdefault(run.data.tags["segsync.family"], []).append(run)
    score_runs = by_family["segsync-score-buy_90d"]
    for run in score_runs:
        assert {"roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift", "calibration_slope"} <= set(run.data.metrics)
        assert run.data.params["kind"] == "propensity" and run.data.params["horizon_days"] == "60"
    for run in by_family["segsync-segmentation-default"]:
        assert {"silhouette", "calinski_harabasz", "davies_bouldin"} <= set(run.data.metrics)
    # the registry: one MLflow version per segsync version, the champion alias where segsync has it
    model = client.get_registered_model("segsync-score-buy_90d")
    champion = next(v for v in score_versions if CHAMPION in v.aliases)
    assert client.get_model_version_by_alias("segsync-score-buy_90d", "champion").tags["segsync.version"] == str(
        champion.version)
    assert model.name == "segsync-score-buy_90d"
    # the champion changed exactly when a challenger won
    for v in score_versions[1:]:
        new, old = v.meta["judged"]
        won = new is not None and (old is None or new >= old + cfg.tracking.margin)
        assert (v.version in [h[0] for h in history]) == won, (v.version, v.meta["decision"])


def test_a_forced_worse_challenger_is_not_promoted(tmp_path: Path, tx: pd.DataFrame, monkeypatch) -> None:
    from connector.steps import scoring

    cfg = load_config(config(tmp_path, "{kind: builtin, promote_on: roc_auc, margin: 0.0}"), env={})
    write_until(tmp_path, tx, START - pd.Timedelta(days=60))
    with StateStore(tmp_path / "state.sqlite") as store:
        assert cycle(Daemon(cfg), store) == "succeeded"
    first = pd.read_csv(tmp_path / "out.csv", dtype={"customer_id": str}).set_index("customer_id")

    real = scoring.train_and_score

    def worse(*args, **kwargs) -> ScoreResult:
        result = real(*args, **kwargs)
        return replace(result, model=Inverted(result.model))

    monkeypatch.setattr(scoring, "train_and_score", worse)
    write_until(tmp_path, tx, START)
    with StateStore(tmp_path / "state.sqlite") as store:
        assert cycle(Daemon(cfg), store) == "succeeded"
        aliases = store.models.aliases("score", "buy_90d")
        v2 = dict((v, meta) for v, _, meta in store.models.metas("score", "buy_90d"))[2]
        champion = store.models.champion("score", "buy_90d")
    assert aliases == {CHAMPION: 1, CHALLENGER: 2}
    new, old = v2["judged"]
    assert new < old and "does not beat" in v2["decision"]
    # the champion kept scoring: today's scores are version 1's, not the inverted model's
    second = pd.read_csv(tmp_path / "out.csv", dtype={"customer_id": str}).set_index("customer_id")
    assert champion[0] == 1
    assert set(second.index) >= set(first.index)
    assert second["buy_90d"].corr(first["buy_90d"].reindex(second.index)) > 0.5


class Inverted:
    """A deliberately worse model: the real one's probabilities turned around."""

    def __init__(self, model) -> None:
        self.inner = model
        self.as_of, self.version, self.chosen = model.as_of, model.version + "-inverted", model.chosen

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        return 1 - self.inner.predict_proba(features)

    def score(self, features: pd.DataFrame) -> pd.DataFrame:
        out = self.inner.score(features)
        return out.assign(**{self.inner.name: 1 - out[self.inner.name]})


def test_models_list_promote_and_rollback(tmp_path: Path, tx: pd.DataFrame, capsys) -> None:
    path = config(tmp_path, "{kind: builtin, margin: 1.0}")  # nothing can win by 1.0 AUC: all challengers
    cfg = load_config(path, env={})
    for end in (START - pd.Timedelta(days=60), START):
        write_until(tmp_path, tx, end)
        with StateStore(tmp_path / "state.sqlite") as store:
            assert cycle(Daemon(cfg), store) == "succeeded"
    assert cli_main(["models", "list", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    score_lines = [line for line in out if line.startswith("score/buy_90d")]
    assert len(score_lines) == 2
    assert score_lines[0].split()[1:3] == ["1", "champion"] and score_lines[1].split()[1:3] == ["2", "challenger"]
    assert "roc_auc" in score_lines[1] and "does not beat" in score_lines[1]
    assert any(line.startswith("segmentation/default") for line in out)
    from connector.report import render_report

    with StateStore(tmp_path / "state.sqlite") as store:
        html = render_report(store, cfg)
    timeline = html.split("<h2>Model versions</h2>", 1)[1].split("<h2>", 1)[0]
    assert timeline.count("score/buy_90d") == 2 and "champion is 60 day(s) old" in timeline and "does not beat" in timeline

    assert cli_main(["models", "promote", str(path), "score/buy_90d", "2"]) == 0
    with StateStore(tmp_path / "state.sqlite") as store:
        assert store.models.aliases("score", "buy_90d") == {CHAMPION: 2}
    assert cli_main(["models", "rollback", str(path), "score/buy_90d"]) == 0
    with StateStore(tmp_path / "state.sqlite") as store:
        assert store.models.aliases("score", "buy_90d") == {CHAMPION: 1}
        reasons = [r for _, _, r in store.models.alias_history("score", "buy_90d")]
    assert reasons[-2:] == ["promoted by hand", "rolled back by hand"]
    capsys.readouterr()
    assert cli_main(["models", "promote", str(path), "score/buy_90d", "9"]) == 2
    assert "no readable version 9" in capsys.readouterr().out


def test_same_writes_with_and_without_mlflow(tmp_path: Path, tx: pd.DataFrame) -> None:
    outputs = []
    for tracking in ("{kind: builtin}", f"{{kind: mlflow, uri: 'sqlite:///{tmp_path / 'm.db'}'}}"):
        folder = tmp_path / tracking.split(",")[0].split(":")[1].strip(" }")
        folder.mkdir()
        cfg = load_config(config(folder, tracking), env={})
        for end in (START - pd.Timedelta(days=60), START):
            write_until(folder, tx, end)
            with StateStore(folder / "state.sqlite") as store:
                assert cycle(Daemon(cfg), store) == "succeeded"
        outputs.append((folder / "out.csv").read_bytes())
    assert outputs[0] == outputs[1]


def test_same_crm_writes_with_and_without_mlflow(tmp_path: Path) -> None:
    """Both sandbox CRMs, two runs a simulated month apart (the score retrains on the second):
    with MLflow tracking or without, the CRMs end with the same fields and list members."""
    import sys

    from connector.config import Config
    from connector.pipeline import run_cycle

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))
    from crm_state import hubspot_snapshot, salesforce_snapshot
    from world import E2EWorld

    ends = []
    for name, tracking in (("builtin", {"kind": "builtin"}),
                           ("mlflow", {"kind": "mlflow", "uri": f"sqlite:///{tmp_path / 'crm.db'}"})):
        world = E2EWorld(tmp_path / name, n_customers=300, seed=5)
        data = world.config_data() | {"tracking": tracking}
        data["scoring"]["retrain_every_days"] = 14
        config = Config.model_validate(data)
        with StateStore(world.tmp / "state.sqlite") as store:
            for _ in range(2):
                assert run_cycle(config, store, connector_factory=world.factory).status == "succeeded"
                world.sim.advance_days(30)
                world.settle()
            versions = [v.version for v in store.models.versions("score")]
        assert versions == [1, 2]
        sf, hs = salesforce_snapshot(world.sf), hubspot_snapshot(world.hs)
        ends.append(({k: {f: v for f, v in r.items() if f.startswith("Segsync_")} for k, r in sf.records.items()},
                     {k: {f: v for f, v in r.items() if f.startswith("segsync_")} for k, r in hs.records.items()},
                     {n: sorted(sf.members.get(i[0], {})) for n, i in sf.lists.items()},
                     {n: sorted(hs.members.get(i[0], {})) for n, i in hs.lists.items()}))
    assert ends[0] == ends[1]
    assert any(r for r in ends[0][0].values())  # segsync did write fields
