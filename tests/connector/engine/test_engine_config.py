"""`engine:` in the YAML: the shape, its errors, and a clear refusal when Spark cannot run."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connector.config import Config, ConfigurationError, EngineConfig, load_config
from connector.engine import open_engine
from connector.engine.pandas import PandasEngine


def test_pandas_is_the_default():
    assert Config().engine == EngineConfig(kind="pandas")
    assert isinstance(open_engine(Config().engine), PandasEngine)


@pytest.mark.parametrize("given", [
    {"kind": "spark", "master": "local[2]"},
    {"kind": "spark", "master": "local[*]"},
    {"kind": "spark", "master": "spark://10.0.0.5:7077"},
    {"kind": "spark", "remote": "sc://spark-connect.internal:15002"},
    {"kind": "spark", "master": "yarn", "spark_conf": {"spark.executor.memory": "8g", "spark.sql.adaptive.enabled": True}},
])
def test_spark_shapes_are_accepted(given):
    cfg = Config.model_validate({"engine": given})
    assert cfg.engine.kind == "spark" and cfg.engine.model_dump(exclude_defaults=True) == given


@pytest.mark.parametrize(("given", "message"), [
    ({"kind": "dask"}, "kind"),
    ({"kind": "spark", "master": "local[2]", "remote": "sc://h:15002"}, "either master"),
    ({"kind": "spark", "master": "http://h:7077"}, "is not a Spark master URL"),
    ({"kind": "spark", "remote": "h:15002"}, "is not a Spark Connect URL"),
    ({"kind": "pandas", "master": "local[2]"}, "master applies to kind: spark only .*add kind: spark"),
    ({"master": "local[2]", "spark_conf": {"spark.executor.memory": "2g"}},
     r"master and spark_conf apply to kind: spark only \(kind is pandas, the default\)"),
    ({"kind": "spark", "executors": 4}, "executors"),
    ({"kind": "spark", "master": "sc://h:15002"}, "master 'sc://h:15002' is a Spark Connect URL: give it as remote"),
    ({"kind": "spark", "remote": "spark://h:7077"}, "remote 'spark://h:7077' is a Spark master URL: give it as master"),
    ({"kind": "spark", "remote": "local[2]"}, "is a Spark master URL: give it as master, not remote"),
    ({"kind": "spark", "master": "local[2]", "spark_conf": {"spark.master": "yarn"}},
     "spark_conf spark.master: give it as engine.master"),
    ({"kind": "spark", "remote": "sc://h:15002", "spark_conf": {"spark.remote": "sc://g:15002"}},
     "spark_conf spark.remote: give it as engine.remote"),
])
def test_bad_shapes_name_the_problem(given, message):
    with pytest.raises(ValidationError, match=message):
        Config.model_validate({"engine": given})


@pytest.mark.parametrize(("engine", "message"), [
    ('{kind: spark, master: "local[2]", remote: "sc://h:15002/;use_ssl=true;token=s3cr3t-t0ken"}', "either master"),
    ('{kind: spark, master: "sc://h:15002/;token=s3cr3t-t0ken"}', "is a Spark Connect URL: give it as remote"),
    ('{kind: spark, remote: "sc:/h/;token=s3cr3t-t0ken"}', "is not a Spark Connect URL"),
])
def test_a_connect_token_never_reaches_a_message(tmp_path, engine, message):
    path = tmp_path / "segsync.yaml"
    path.write_text(f"version: 1\nengine: {engine}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message) as caught:
        load_config(path)
    assert "segsync.yaml:2 engine:" in str(caught.value) and "token=***" in str(caught.value)
    assert "s3cr3t-t0ken" not in str(caught.value)


def test_effective_master():
    assert EngineConfig(kind="spark").effective_master() == "local[*]"
    assert EngineConfig(kind="spark", remote="sc://h:15002").effective_master() is None
    assert EngineConfig(kind="spark", master="local[2]").effective_master() == "local[2]"


def test_missing_pyspark_is_a_clear_error(monkeypatch):
    import importlib.util

    from connector.engine.spark import session

    real = importlib.util.find_spec
    monkeypatch.setattr(session.importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    with pytest.raises(ConfigurationError, match=r"pyspark is not installed: pip install 'segsync\[spark\]'"):
        session.check_spark_available(EngineConfig(kind="spark", master="local[2]"))


def test_missing_java_is_a_clear_error(monkeypatch):
    pytest.importorskip("pyspark")
    from connector.engine.spark import session

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigurationError, match="no Java runtime was found.*openjdk-17-jre-headless"):
        session.check_spark_available(EngineConfig(kind="spark", master="local[2]"))
    # Spark Connect needs no local JVM
    session.check_spark_available(EngineConfig(kind="spark", remote="sc://h:15002"))


def test_old_java_is_refused(monkeypatch, tmp_path):
    pytest.importorskip("pyspark")
    from connector.engine.spark import session

    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text('#!/bin/sh\necho \'openjdk version "1.8.0_392"\' >&2\n')
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(ConfigurationError, match="is Java 8; Spark 4 needs Java 17"):
        session.check_spark_available(EngineConfig(kind="spark", master="local[2]"))


def test_spark_conf_reaches_a_classic_session(spark):
    # conftest's TEST_CONF goes through spark_session: numbers as strings, booleans as Spark spells them
    conf = spark.sparkContext.getConf()
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
    assert conf.get("spark.ui.enabled") == "false" and conf.get("spark.driver.memory") == "1g"
    assert conf.get("spark.executorEnv.PYTHONWARNINGS") == "ignore::FutureWarning"


class _Failing(Exception):
    def __init__(self, condition: str) -> None:
        super().__init__(f"{condition}: value s3cr3t")
        self.condition = condition

    def getCondition(self) -> str:  # noqa: N802 (pyspark's name)
        return self.condition


class _Session:
    """A Connect session whose conf.set fails as the server would answer."""

    def __init__(self, condition: str) -> None:
        self.conf = self
        self.condition = condition

    def set(self, key: str, value: str) -> None:
        raise _Failing(self.condition)


@pytest.mark.parametrize(("condition", "message"), [
    ("CANNOT_MODIFY_CONFIG", r"the Spark Connect server refused spark.hadoop.fs.s3a.secret.key \(CANNOT_MODIFY_CONFIG\)"
                             r".*spark-submit --conf"),
    ("UNAVAILABLE", r"setting spark.hadoop.fs.s3a.secret.key on the Spark Connect server "
                    r"sc://h:15002/;token=\*\*\* failed \(UNAVAILABLE\)"),
])
def test_a_connect_conf_failure_names_the_key_not_the_value(condition, message):
    from connector.engine.spark import session

    cfg = EngineConfig(kind="spark", remote="sc://h:15002/;token=t0ken",
                       spark_conf={"spark.hadoop.fs.s3a.secret.key": "s3cr3t"})
    with pytest.raises(ConfigurationError, match=message) as caught:
        session._connect(_Session(condition), cfg)  # type: ignore[arg-type]
    assert "s3cr3t" not in str(caught.value) and "t0ken" not in str(caught.value)


_OWN = "segsync's own FutureWarning"
_EMIT = ("import warnings\nfrom pyspark.sql.pandas.utils import require_minimum_pandas_version\n"
         "require_minimum_pandas_version()\nwarnings.warn(" + repr(_OWN) + ", FutureWarning)\n")


def _stderr_of(code: str, env: dict[str, str]) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.skipif(__import__("pandas").__version__ < "3", reason="pyspark warns on pandas 3 only")
def test_pysparks_pandas3_warning_is_silenced_on_the_driver_and_in_the_workers(monkeypatch):
    """pyspark's "does not yet fully support pandas >= 3.0.0" reached the terminal dozens of times
    per `segsync run`; segsync's own FutureWarnings must still show. Fresh interpreters, as a run's
    driver (which imports connector.engine.spark) and its Python workers (PYTHONWARNINGS) start."""
    pytest.importorskip("pyspark")
    import os

    from connector.engine.spark.session import python_worker_warnings, session_settings

    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    unfiltered = _stderr_of(_EMIT, env)
    assert "PySpark does not yet fully support pandas" in unfiltered and _OWN in unfiltered  # what users saw
    driver = _stderr_of("import connector.engine.spark.sources\n" + _EMIT, env)
    worker = _stderr_of(_EMIT, {**env, "PYTHONWARNINGS": python_worker_warnings(None)})
    for stderr in (driver, worker):
        assert "does not yet fully support pandas" not in stderr and f"FutureWarning: {_OWN}" in stderr, stderr
    # the workers get it by default; a user's own PYTHONWARNINGS comes after it (and so wins), spark_conf replaces it
    monkeypatch.setenv("PYTHONWARNINGS", "error::DeprecationWarning")
    key = "spark.executorEnv.PYTHONWARNINGS"
    settings = session_settings(EngineConfig(kind="spark", master="local[2]"), "local[2]")
    assert settings[key] == "ignore:PySpark does not yet fully support pandas:FutureWarning,error::DeprecationWarning"
    mine = EngineConfig(kind="spark", master="spark://h:7077", spark_conf={key: "default"})
    assert session_settings(mine, "spark://h:7077")[key] == "default"
    assert "spark.driver.bindAddress" not in session_settings(mine, "spark://h:7077")  # local defaults stay local


def test_a_java_home_without_java_is_a_clear_error(monkeypatch, tmp_path):
    # pyspark starts $JAVA_HOME/bin/java whatever java is on PATH: the check looked there and passed
    pytest.importorskip("pyspark")
    from connector.engine.spark import session

    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk-17"))
    with pytest.raises(ConfigurationError, match=r"JAVA_HOME is .*jdk-17, which has no bin/java: point JAVA_HOME at a "
                                                 r"Java 17 installation, or unset it"):
        session.check_spark_available(EngineConfig(kind="spark", master="local[2]"))


def test_a_session_that_cannot_start_is_one_line_naming_the_master(tmp_path):
    """A JVM that exits at start (here a `java` that answers -version and nothing else): `segsync
    run` says so in one line naming engine.master, no traceback and no page of Java stack."""
    pytest.importorskip("pyspark")
    import os
    import subprocess
    import sys

    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\necho \'openjdk version "17.0.9" 2023-10-17\' >&2\n[ "$1" = -version ] || exit 1\n')
    java.chmod(0o755)
    (tmp_path / "tx.csv").write_text("CustomerID,date,amount\nc1,2026-01-01,5\n", encoding="utf-8")
    (tmp_path / "segsync.yaml").write_text(
        "version: 1\nstate: {path: state.sqlite}\nengine: {kind: spark, master: \"local[1]\"}\n"
        "sources: {files: {transactions: tx.csv}}\ndestinations: {files: {path: out.csv}}\n", encoding="utf-8")
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "jdk")}
    done = subprocess.run([sys.executable, "-m", "connector.cli", "run", str(tmp_path / "segsync.yaml")],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode != 0
    assert "engine.master local[1]: the Spark session could not start: its JVM exited at start" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "py4j" not in done.stdout + done.stderr, done.stderr


def test_a_start_failure_names_what_to_check():
    from connector.engine.spark.session import start_failure

    stopped = RuntimeError("An error occurred while calling None.SparkSession.\n: java.lang.IllegalStateException: "
                           "Cannot call methods on a stopped SparkContext.\nThis stopped SparkContext was created at:")
    assert start_failure(stopped, "spark://10.0.0.5:7077") == (
        "engine.master spark://10.0.0.5:7077: the Spark session could not start: the master did not take the "
        "application: is it running and reachable from here, with a worker that has the cores and memory asked "
        "for? (Spark's log above says which)")
    assert start_failure(ValueError("bad value\nmore"), "yarn").endswith("could not start: ValueError: bad value")
