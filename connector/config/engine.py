"""`engine:` — where the heavy compute (features, segmentation, scoring, CLV) runs.

`{kind: pandas}` (the default when `engine` is absent) computes on this machine;
`{kind: spark, master: "local[2]"}`, `{kind: spark, master: "spark://host:7077"}` or
`{kind: spark, remote: "sc://host:15002"}` runs it on Spark (`pip install 'segsync[spark]'`
and Java 17). `spark_conf` is passed to the session as given. `staging: folder` has the pulls
of CRM and SQL sources exported as Parquet for Spark to read (connector.state.staging).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from connector.config.base import Strict

_MASTER = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|spark://[^\s/]+(:\d+)?(,[^\s/]+(:\d+)?)*|yarn|k8s://\S+)$")
_REMOTE = re.compile(r"^sc://[^\s/]+(:\d+)?(/.*)?$")


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
            if self.master or self.remote or self.spark_conf or self.staging:
                raise ValueError("master, remote, spark_conf and staging apply to kind: spark only")
            return self
        if self.master and self.remote:
            raise ValueError("give either master (classic Spark) or remote (Spark Connect), not both")
        if self.master is not None and not _MASTER.match(self.master):
            raise ValueError(f"master {self.master!r} is not a Spark master URL "
                             '(expected "local[N]", "local[*]", "spark://host:port", "yarn" or "k8s://...")')
        if self.remote is not None and not _REMOTE.match(self.remote):
            raise ValueError(f"remote {self.remote!r} is not a Spark Connect URL (expected sc://host:port)")
        return self

    def effective_master(self) -> str | None:
        """The master to use: as configured, else local[*] unless Spark Connect is used."""
        if self.kind != "spark" or self.remote:
            return None
        return self.master or "local[*]"
