"""The SparkSession an `engine: {kind: spark}` config asks for, and the checks before it.

pyspark is imported here, lazily: without the `spark` extra the rest of segsync imports and
runs on pandas, and only a config that chooses Spark is told what to install.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from connector.crm.errors import ConfigurationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from connector.config.engine import EngineConfig

#: Local sessions bind the driver to loopback (house rule: nothing listens beyond 127.0.0.1 by default).
_LOCAL_DEFAULTS = {
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}


def check_spark_available(cfg: EngineConfig) -> None:
    """Raise ConfigurationError naming what is missing for `engine.kind: spark`."""
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigurationError(
            "engine.kind is spark but pyspark is not installed: pip install 'segsync[spark]'")
    if cfg.remote:
        return  # Spark Connect: the JVM runs on the server, not here
    java = _java_binary()
    if java is None:
        raise ConfigurationError(
            "engine.kind is spark but no Java runtime was found (JAVA_HOME unset and no java on PATH): "
            "install Java 17, e.g. apt-get install openjdk-17-jre-headless")
    version = _java_major(java)
    if version is not None and version < 17:
        raise ConfigurationError(f"engine.kind is spark but {java} is Java {version}; Spark 4 needs Java 17 or newer")


def _java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    for token in out.split():
        token = token.strip('"')
        head = token.split(".")[0]
        if head.isdigit() and "." in token:
            major = int(head)
            return int(token.split(".")[1]) if major == 1 else major
    return None


def spark_session(cfg: EngineConfig) -> SparkSession:
    """The session for `cfg`: getOrCreate, so one process shares one session (Spark allows one)."""
    check_spark_available(cfg)
    # Python workers must be this interpreter (the one with pandas, pyarrow and segsync);
    # on a cluster whose executors have their own, spark_conf spark.pyspark.python says so.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder: Any = SparkSession.builder.appName(cfg.app_name)
    if cfg.remote:
        builder = builder.remote(cfg.remote)
    else:
        master = cfg.effective_master() or "local[*]"
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the block manager too, not only the driver
        builder = builder.master(master)
        for key, value in _LOCAL_DEFAULTS.items():
            if key not in cfg.spark_conf and (master.startswith("local") or key.startswith("spark.sql")):
                builder = builder.config(key, value)
    for key, setting in cfg.spark_conf.items():
        builder = builder.config(key, str(setting).lower() if isinstance(setting, bool) else str(setting))
    return builder.getOrCreate()
