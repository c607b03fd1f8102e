"""The Spark engine (connector.engine.spark.engine), its sources, steps and session.

pyspark 4.3 warns that it "does not yet fully support pandas >= 3.0.0" (a FutureWarning from
pyspark.sql.pandas.utils.require_minimum_pandas_version) when it is imported and on every Arrow
conversion, on the driver and in every Python worker: a `segsync run` printed it dozens of times.
segsync's parity tests on pandas 3 (tests/e2e/test_spark_cycle.py) are what certify the
conversions it makes, so that one message is silenced, by message and category, wherever segsync
runs pyspark: here, before any module of this package imports pyspark, and in the Python workers
(session.PYTHON_WORKER_WARNINGS). Every other warning, segsync's own and pyspark's, stays visible.
"""

from __future__ import annotations

import warnings

#: The start of pyspark's pandas-3 warning (the filters match a message from its start).
PANDAS3_WARNING = "PySpark does not yet fully support pandas"


def quiet_pandas3_warning() -> None:
    """Silence pyspark's pandas-3 FutureWarning in this process, and nothing else."""
    warnings.filterwarnings("ignore", message=PANDAS3_WARNING, category=FutureWarning)


quiet_pandas3_warning()
