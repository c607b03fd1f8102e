"""`engine:` — where the heavy compute (features, segmentation, scoring, CLV) runs.

`{kind: pandas}` (the default when `engine` is absent) computes on this machine;
`{kind: spark, master: "local[2]"}`, `{kind: spark, master: "spark://host:7077"}` or
`{kind: spark, remote: "sc://host:15002"}` runs it on Spark (`pip install 'segsync[spark]'`
and Java 17). `spark_conf` is passed to the session as given: with master, to the session
builder; with remote, set on the Connect session key by key, and a key the server cannot take
there (executor or driver settings, static SQL settings) is an error naming the key.
`staging: folder` has the pulls of CRM and SQL sources exported as Parquet for Spark to read
(connector.state.staging).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from connector.config.base import Strict

_MASTER = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|spark://[^\s/]+(:\d+)?(,[^\s/]+(:\d+)?)*|yarn|k8s://\S+)$")
_REMOTE = re.compile(r"^sc://[^\s/]+(:\d+)?(/.*)?$")
_TOKEN = re.compile(r"(token=)[^;]*", re.IGNORECASE)


def shown(url: str) -> str:
    """`url` fit for messages and logs: a Spark Connect token (sc://host/;token=...) masked."""
    return _TOKEN.sub(r"\1***", url)


class EngineConfig(Strict):
    kind: Literal["pandas", "spark"] = Field("pandas", description="pandas: one machine; spark: a Spark session.")
    master: str | None = Field(
        None, description='Spark master URL: "local[2]", "local[*]", "spark://host:7077", "yarn", "k8s://...".'
    )
    remote: str | None = Field(None, description='Spark Connect URL, e.g. "sc://host:15002" (instead of master).')
    app_name: str = Field("segsync", min_length=1, max_length=200)
    spark_conf: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Passed to the SparkSession builder as given (spark.executor.memory, ...)."
    )
    staging: Path | None = Field(
        None, description="kind spark: a folder (relative to the config file) where the purchases CRM and SQL pulls "
        "store in the state file are exported as Parquet after each pull, for Spark to read on its executors; "
        "unset: Spark receives them from the driver. A cluster's executors must be able to read this folder."
    )

    @model_validator(mode="after")
    def _consistent(self) -> EngineConfig:
        if self.kind == "pandas":
            given = [key for key in ("master", "remote", "spark_conf", "staging") if getattr(self, key)]
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                raise ValueError(f"{' and '.join(given)} {verb} to kind: spark only (kind is pandas, the default): "
                                 "add kind: spark")
            return self
        if self.master and self.remote:
            raise ValueError(f"give either master (classic Spark, the driver runs here: {self.master!r}) or remote "
                             f"(Spark Connect, the driver runs on the server: {shown(self.remote)!r}), not both")
        if self.master is not None and not _MASTER.match(self.master):
            if _REMOTE.match(self.master):
                raise ValueError(f"master {shown(self.master)!r} is a Spark Connect URL: give it as remote, not master")
            raise ValueError(f"master {shown(self.master)!r} is not a Spark master URL "
                             '(expected "local[N]", "local[*]", "spark://host:port", "yarn" or "k8s://...")')
        if self.remote is not None and not _REMOTE.match(self.remote):
            if _MASTER.match(self.remote):
                raise ValueError(f"remote {shown(self.remote)!r} is a Spark master URL: give it as master, not remote "
                                 "(remote is for Spark Connect, sc://host:15002)")
            raise ValueError(f"remote {shown(self.remote)!r} is not a Spark Connect URL (expected sc://host:port)")
        for key, field in (("spark.master", "master"), ("spark.remote", "remote")):
            if key in self.spark_conf:
                raise ValueError(f"spark_conf {key}: give it as engine.{field} (one place says where the session runs)")
        return self

    def effective_master(self) -> str | None:
        """The master to use: as configured, else local[*] unless Spark Connect is used."""
        if self.kind != "spark" or self.remote:
            return None
        return self.master or "local[*]"
