"""The SparkSession an `engine: {kind: spark}` config asks for, the checks before it, and the
lifetime of what a session holds on a Spark Connect server.

pyspark is imported here, lazily: without the `spark` extra the rest of segsync imports and
runs on pandas, and only a config that chooses Spark is told what to install.

Spark Connect (`remote: sc://...`): a fitted pyspark.ml model is a handle on the server's ML
cache, released by the model's finaliser with a blocking gRPC call (pyspark.ml.util
RemoteModelRef.release_ref -> SparkConnectClient._delete_ml_cache). pyspark 4.3 puts every model
that has a training summary (KMeans, BisectingKMeans, GaussianMixture, the classifiers) in a
reference cycle: model -> summary -> the summary's DataFrame -> its TransformerRelation plan ->
model. Only the cyclic garbage collector frees it, whenever it happens to run; when that is the
interpreter's final collection, gRPC's channel thread has already stopped and the delete waits
for a reply nobody reads: `segsync run` finished its cycle and never exited. No cycle fits a
pyspark.ml model today (connector.engine.spark.clusters), but a Connect session is still stopped
at exit, pending finalisers collected first, while the channel still runs.
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import os
import shutil
import subprocess
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connector.config.engine import shown
from connector.crm.errors import ConfigurationError
from connector.engine.spark import PANDAS3_WARNING

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


_WORKER_WARNINGS = "spark.executorEnv.PYTHONWARNINGS"


def python_worker_warnings(inherited: str | None) -> str:
    """PYTHONWARNINGS for Spark's Python workers: pyspark's pandas-3 warning ignored (see
    connector.engine.spark), then `inherited` (the user's own, which win: later entries take
    precedence). Workers of a local master write to this terminal; spark_conf may set it instead."""
    return ",".join(filter(None, [f"ignore:{PANDAS3_WARNING}:FutureWarning", inherited]))


def check_spark_available(cfg: EngineConfig) -> None:
    """Raise ConfigurationError naming what is missing for `engine.kind: spark`."""
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigurationError(
            "engine.kind is spark but pyspark is not installed: pip install 'segsync[spark]'")
    if cfg.remote:
        return  # Spark Connect: the JVM runs on the server, not here
    home = os.environ.get("JAVA_HOME")
    if home and not os.access(os.path.join(home, "bin", "java"), os.X_OK):  # pyspark starts $JAVA_HOME/bin/java
        raise ConfigurationError(
            f"engine.kind is spark but JAVA_HOME is {home}, which has no bin/java: point JAVA_HOME at a Java 17 "
            "installation, or unset it to use the java on PATH")
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

    if cfg.remote:
        return _connect(SparkSession.builder.appName(cfg.app_name).remote(cfg.remote).getOrCreate(), cfg)
    builder: Any = SparkSession.builder.appName(cfg.app_name)
    master = cfg.effective_master() or "local[*]"
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the block manager too, not only the driver
    builder = builder.master(master)
    for key, value in session_settings(cfg, master).items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - py4j's and pyspark's errors: whatever the JVM or the master answered
        raise ConfigurationError(start_failure(exc, master)) from None


def start_failure(exc: BaseException, master: str) -> str:
    """What to do when a classic session did not start, in one line (not py4j's page of Java stack)."""
    text = str(exc)
    if "JAVA_GATEWAY_EXITED" in text:
        why = "its JVM exited at start (the lines above, from Spark's launcher, say why: often the Java installation)"
    elif "stopped SparkContext" in text:
        why = ("the master did not take the application: is it running and reachable from here, with a worker "
               "that has the cores and memory asked for? (Spark's log above says which)")
    else:
        lines = text.strip().splitlines()
        why = f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"
    return f"engine.master {shown(master)}: the Spark session could not start: {why}"


def session_settings(cfg: EngineConfig, master: str) -> dict[str, str]:
    """What a classic session is built with: the local defaults (a local master), the SQL ones,
    the Python workers' PYTHONWARNINGS (python_worker_warnings), then spark_conf, which wins."""
    settings = {key: value for key, value in _LOCAL_DEFAULTS.items()
                if master.startswith("local") or key.startswith("spark.sql")}
    settings[_WORKER_WARNINGS] = python_worker_warnings(os.environ.get("PYTHONWARNINGS"))
    settings.update({key: _conf_value(setting) for key, setting in cfg.spark_conf.items()})
    return settings


def _conf_value(setting: str | int | float | bool) -> str:
    return str(setting).lower() if isinstance(setting, bool) else str(setting)


#: Connect sessions already set to stop at exit (getOrCreate hands the same one out again).
_STOPPED_AT_EXIT: weakref.WeakSet[Any] = weakref.WeakSet()


def _connect(session: SparkSession, cfg: EngineConfig) -> SparkSession:
    """`session` (Spark Connect) with spark_conf set one key at a time, and stopped at exit.

    pyspark's builder sets a remote session's options silently, so a setting the server cannot
    take (spark.executor.memory: fixed when the server started) would be dropped without a word;
    set here, each refusal names its key (never its value: spark_conf may carry credentials).
    """
    for key, setting in cfg.spark_conf.items():
        try:
            session.conf.set(key, _conf_value(setting))
        except Exception as exc:  # pyspark raises its own error tree, per server reply
            condition = str(getattr(exc, "getCondition", lambda: None)() or type(exc).__name__)
            if not condition.startswith("CANNOT_MODIFY"):
                raise ConfigurationError(f"engine.spark_conf: setting {key} on the Spark Connect server "
                                         f"{shown(cfg.remote or '')} failed ({condition})") from None
            raise ConfigurationError(
                f"engine.spark_conf: the Spark Connect server refused {key} ({condition}); settings fixed when "
                "the server starts (spark.executor.*, spark.driver.*, static SQL settings) belong in its own "
                "configuration (spark-submit --conf), only runtime settings can be passed through remote"
            ) from None
    if session not in _STOPPED_AT_EXIT:
        _STOPPED_AT_EXIT.add(session)
        atexit.register(stop_connect_session, weakref.ref(session))
    return session


def stop_connect_session(ref: Callable[[], SparkSession | None]) -> None:
    """Free what the session holds on the server, while its gRPC channel still runs: models
    waiting in reference cycles are collected now (their finalisers send the deletes), then the
    session is released. Any finaliser after this finds no active session and sends nothing."""
    gc.collect()
    session = ref()
    if session is not None:
        session.stop()

