"""MLflow as the tracker: one run per retrain, one registered model per family, aliases kept.

Each retrain is a run in the config's experiment, tagged with the segsync family, version and
trigger, with its parameters, flattened metrics, JSON artifacts (segment profiles, the
calibration table, global drivers, ...) and the model as an MLflow pyfunc with a signature
inferred from a sample of the features. Logging the model registers a new version of the
family's registered model (tag `segsync.version`); `champion` / `challenger` are MLflow
aliases on those versions. Works against a local SQLite store or a tracking server URI.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc.model import PythonModel

log = logging.getLogger("segsync.lifecycle")
VERSION_TAG = "segsync.version"


class SegsyncPyfunc(PythonModel):
    """A segsync model behind MLflow's pyfunc interface: probabilities for a score model,
    segment ids for a segmentation state. Loading it needs segsync installed."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        return predict(self.model, model_input)


def predict(model: Any, features: pd.DataFrame) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        p = np.asarray(model.predict_proba(features), dtype=float)
        return p[:, 1] if p.ndim == 2 else p
    keys = model.model.predict(model.scaler.transform(features))  # a SegmentationState
    return np.asarray([str(model.cluster_ids.get(k, "")) for k in keys], dtype=object)


class MlflowTracker:
    def __init__(self, uri: str, experiment: str) -> None:
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(
            experiment, artifact_location=artifact_location(uri))

    def log_version(self, family: str, version: int, *, params: dict[str, Any], metrics: dict[str, float],
                    artifacts: dict[str, Any], model: Any, trigger: str, example: pd.DataFrame | None = None) -> None:
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        tags = {"segsync.family": family, VERSION_TAG: str(version), "segsync.trigger": trigger[:500]}
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=f"{family} v{version}", tags=tags):
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            if metrics:
                mlflow.log_metrics(metrics)
            for name, content in artifacts.items():
                mlflow.log_dict(_jsonable(content), f"{name}.json")
            signature = None
            if example is not None and len(example):
                sample = example.head(50)
                signature = infer_signature(sample, predict(model, sample))
            info = mlflow.pyfunc.log_model(name="model", python_model=SegsyncPyfunc(model), signature=signature,
                                           registered_model_name=family)
        registered = info.registered_model_version
        if registered is not None:
            self.client.set_model_version_tag(family, str(registered), VERSION_TAG, str(version))

    def set_alias(self, family: str, alias: str, version: int | None) -> None:
        try:
            if version is None:
                self.client.delete_registered_model_alias(family, alias)
                return
            mlflow_version = self._mlflow_version(family, version)
            if mlflow_version is None:
                log.warning("MLflow has no version of %s for segsync version %d: alias %s not set", family, version, alias)
                return
            self.client.set_registered_model_alias(family, alias, mlflow_version)
        except MlflowException as exc:  # tracking must never stop a cycle
            log.warning("MLflow alias %s on %s not updated: %s", alias, family, exc)

    def _mlflow_version(self, family: str, version: int) -> str | None:
        for mv in self.client.search_model_versions(f"name='{family}'"):
            if (mv.tags or {}).get(VERSION_TAG) == str(version):
                return str(mv.version)
        return None


def artifact_location(uri: str) -> str | None:
    """Artifacts beside a local SQLite store (MLflow's default would be ./mlruns in the working
    directory); a tracking server decides for itself."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlflow-artifacts").resolve().as_uri()
    return None


def _jsonable(content: Any) -> Any:
    if isinstance(content, pd.DataFrame):
        return json.loads(content.to_json(orient="records", date_format="iso"))
    return json.loads(json.dumps(content, default=str))
