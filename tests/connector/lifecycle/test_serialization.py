"""Stored models: the envelope round-trips real segsync models; a file that names anything
else is refused before any code runs, and an old bare pickle is migrated once."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connector.sandbox.cdnow import cdnow_sample_transactions
from connector.state import StateStore
from connector.state.serialization import (
    MAGIC,
    IncompatibleModel,
    allowed,
    dump_model,
    load_model,
    read_header,
)
from segmentation.engine import SegmentationParams
from segmentation.engine import segment as run_segmentation
from segmentation.features import build_features, clean_transactions
from segmentation.scoring import ScoreParams, train_and_score

DATA = Path(__file__).resolve().parents[2] / "data" / "CDNOW_sample.txt"


@pytest.fixture(scope="module")
def fitted():
    tx, _ = clean_transactions(cdnow_sample_transactions(DATA))
    as_of = pd.Timestamp("1998-06-30", tz="UTC")
    feats = build_features(None, tx, as_of)
    seg = run_segmentation(feats, SegmentationParams(method="kmeans", k=4, sample_size=500), None, as_of)
    score = train_and_score(None, tx, ScoreParams("buy_90d", "propensity", horizon_days=90, models=("logistic", "gbm")),
                            as_of)
    gbm = train_and_score(None, tx, ScoreParams("buy_90d", "propensity", horizon_days=90, models=("gbm",)), as_of)
    return feats, seg.state, score.model, gbm.model


def test_real_models_round_trip(fitted) -> None:
    feats, state, model, gbm = fitted
    data = dump_model(state)
    assert data.startswith(MAGIC) and read_header(data)["class"] == "segmentation.engine.SegmentationState"
    back = load_model(data)
    assert back.model_version == state.model_version
    assert back.assignments.equals(state.assignments)
    for score_model in (model, gbm):  # a boosted model keeps its seeded numpy Generator
        again = load_model(dump_model(score_model))
        np.testing.assert_allclose(again.predict_proba(feats), score_model.predict_proba(feats))


@pytest.mark.parametrize("values", [
    pd.Series(pd.to_datetime(["1997-01-01", "1998-06-30"], utc=True)),
    pd.Series(pd.to_timedelta([1, 2], unit="D")),
    pd.Series(["seg-0001", None], dtype=pd.StringDtype("python", na_value=np.nan)),  # pandas' str without pyarrow
    pd.Series(["seg-0001", None], dtype=pd.StringDtype("python")),  # "string": missing is pandas.NA
    pd.Series(pd.Categorical(["a", "b", "a"])),
], ids=["datetime", "timedelta", "python-str", "python-string", "categorical"])
def test_pandas_arrays_of_every_kind_round_trip(values: pd.Series) -> None:
    # they pickle through pandas._libs.arrays.__pyx_unpickle_NDArrayBacked; refusing it made every
    # cycle retrain (and serve run without the model) on an install without pyarrow
    frame = pd.DataFrame({"values": values})
    pd.testing.assert_frame_equal(load_model(dump_model(frame)), frame)


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_naming_os_system_is_refused_before_anything_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bare = pickle.dumps(Exploit(marker))
    with pytest.raises(IncompatibleModel, match="does not load"):
        load_model(bare)
    # the same payload inside a well-formed envelope is refused too
    envelope = dump_model({"k": 1})
    header, _, _ = envelope[len(MAGIC):].partition(b"\n")
    import hashlib
    import json
    forged = json.loads(header) | {"sha256": hashlib.sha256(bare).hexdigest()}
    with pytest.raises(IncompatibleModel):
        load_model(MAGIC + json.dumps(forged).encode() + b"\n" + bare)
    assert not marker.exists()


@pytest.mark.parametrize(("module", "name", "ok"), [
    ("sklearn.cluster._kmeans", "KMeans", True),
    ("segmentation.engine", "SegmentationState", True),
    ("numpy._core.multiarray", "_reconstruct", True),
    ("builtins", "eval", False),
    ("builtins", "getattr", False),
    ("os", "system", False),
    ("subprocess", "Popen", False),
    ("pandas", "read_pickle", False),
    ("pandas.io.pickle", "read_pickle", False),
    ("pandas.core.computation.eval", "eval", False),
    ("pandas.core.frame", "DataFrame.to_csv", False),
    ("sklearn.datasets._base", "load_files", False),
    ("numpy", "load", False),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence", True),
    ("numpy.random.bit_generator", "__builtins__", False),
])
def test_allowlist(module: str, name: str, ok: bool) -> None:
    assert allowed(module, name) is ok


def test_checksum_and_format_are_checked() -> None:
    data = dump_model({"a": 1})
    with pytest.raises(IncompatibleModel, match="checksum"):
        load_model(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(IncompatibleModel, match="format"):
        load_model(data.replace(b'"format": 1', b'"format": 99'))
    with pytest.raises(IncompatibleModel, match="cannot be read"):
        load_model(b"\x80\x05garbage")


def test_a_class_that_moved_means_retraining(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    moved = b"\x80\x02csegmentation.engine\nGone\nq\x00."  # GLOBAL of a class that is gone
    with pytest.raises(IncompatibleModel, match="no longer exists"):
        load_model(moved)
    with StateStore(tmp_path / "s.sqlite") as store:
        with store.transaction() as c:
            c.execute("INSERT INTO models (kind, name, version, created_at, meta, data) VALUES "
                      "('score', 'buy', 1, '2026-01-01', '{}', ?)", (moved,))
        caplog.set_level(logging.WARNING)
        assert store.models.latest("score", "buy") is None
    assert "cannot be used" in caplog.text and "retraining" in caplog.text


def test_a_bare_pickle_from_an_earlier_release_is_migrated(tmp_path: Path, fitted, caplog) -> None:
    _, state, _, _ = fitted
    with StateStore(tmp_path / "s.sqlite") as store:
        with store.transaction() as c:
            c.execute("INSERT INTO models (kind, name, version, created_at, meta, data) VALUES "
                      "('segmentation', 'default', 1, '2026-01-01', '{}', ?)", (pickle.dumps(state),))
        caplog.set_level(logging.INFO)
        version, obj, _ = store.models.latest("segmentation", "default")
        assert version == 1 and obj.model_version == state.model_version
        stored = store.query("SELECT data FROM models")[0]["data"]
        assert read_header(stored)["class"] == "segmentation.engine.SegmentationState"
    assert "migrated stored segmentation model 'default' version 1" in caplog.text
