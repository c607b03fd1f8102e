"""A Spark cluster on 127.0.0.1 for the tests, from pyspark's own distribution (bin/spark-class):
a standalone master and one worker.

The conftest starts them once per test session, each JVM registered with tests/reaper.py so it
stops with the pytest process that started it, even one killed without teardown. The Spark
Connect server the Connect cycle talks to is not a JVM of its own: the standalone cycle's driver
serves Spark Connect (SparkConnectPlugin, CONNECT_CONF; cluster_cycles.py), so its sessions run on
this master through that application's executor.

Every JVM started here (these daemons, the executors, the drivers of the child `segsync run`s)
gets JVM_OPTIONS: a JVM that lives seconds and runs tiny jobs spends most of its CPU in the C2
compiler and the parallel collector's threads, which these turn off (measured: a master's start
from 4.8 to 2.6 CPU seconds); the test session's local driver, which lives for the whole run,
keeps C2 (LONG_LIVED_JVM_OPTIONS, conftest.py). They change how fast, never what. All of them run
at the lowest CPU priority (LOW_PRIORITY), and so do their Python workers.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.reaper import watch

#: C1 only and the serial collector: less CPU for short JVMs (see the module docstring).
JVM_OPTIONS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
#: The test session's local driver (conftest.py) lives for the whole run: C2 compiles too.
LONG_LIVED_JVM_OPTIONS = "-XX:+UseSerialGC"
#: The cluster's processes (master, worker, and through them the executor and its Python workers;
#: the cycles' children and their driver JVMs) run at the lowest CPU priority: they take the CPU
#: the test process leaves idle (it uses about 1.45 of 2 on average) instead of slowing it.
#: Only when they run changes, not what they do (`nice` execs the command: the pid stays its own).
LOW_PRIORITY = ["nice", "-n", "19"]
#: Scheduling slots of the worker: one app at a time (the standalone cycle's driver, which also
#: serves the Connect cycle's sessions) holds them all.
WORKER_CORES = 2
CORES_PER_APP = 2
#: Settings of every app on the cluster (a cycle's spark_conf, the Connect server's --conf).
APP_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.extraJavaOptions": JVM_OPTIONS,
    "spark.executor.extraJavaOptions": JVM_OPTIONS,
    "spark.executor.memory": "512m",
    "spark.cores.max": str(CORES_PER_APP),
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
}
#: Settings that make a driver serve Spark Connect on 127.0.0.1 (PORT filled in): the plugin
#: starts the Connect service in the driver as its SparkContext starts.
CONNECT_CONF = {
    "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
    "spark.connect.grpc.binding.address": "127.0.0.1",
    "spark.connect.grpc.binding.port": "{port}",
}


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """A Spark daemon class run by spark-class; its log is read as it comes (until the line that
    says it is ready, then by a thread, so a full pipe never blocks it)."""

    def __init__(self, cls: str, args: list[str], ready: str, env: dict[str, str]) -> None:
        self.cls, self.ready_line = cls, ready
        self.proc = subprocess.Popen([*LOW_PRIORITY, str(spark_home() / "bin" / "spark-class"), cls, *args],
                                     env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        watch(self.proc.pid)  # spark-class execs the JVM: stopped if pytest is killed
        self.lines: list[str] = []
        self.reader: threading.Thread | None = None

    def wait_ready(self) -> Daemon:
        """Read the log until the ready line (once); AssertionError with the log's tail if it exits first."""
        if self.reader is not None:
            return self
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line)
            if self.ready_line in line:
                break
        else:
            raise AssertionError(f"{self.cls} exited before '{self.ready_line}':\n{''.join(self.lines[-30:])}")
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)  # type: ignore[arg-type]
        self.reader.start()
        return self

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        if self.reader is not None:
            self.reader.join(timeout=60)


def daemon_env(environ: dict[str, str]) -> dict[str, str]:
    """The environment of spark-class for the master and worker (`environ` and small heaps: they only keep books)."""
    return {**environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1",
            "PYSPARK_PYTHON": sys.executable, "SPARK_DAEMON_JAVA_OPTS": JVM_OPTIONS, "SPARK_DAEMON_MEMORY": "256m"}


@dataclass
class Cluster:
    """A running master and worker (`url` is spark://127.0.0.1:PORT)."""

    url: str
    master: Daemon
    worker: Daemon

    def stop(self) -> None:
        for daemon in (self.worker, self.master):
            daemon.stop()


def start_cluster(environ: dict[str, str]) -> Cluster:
    """A master, then its worker, with `environ` (os.environ as it was before any test changed it)."""
    env, port = daemon_env(environ), free_port()
    url = f"spark://127.0.0.1:{port}"
    master = Daemon("org.apache.spark.deploy.master.Master",
                    ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(free_port())],
                    "I have been elected leader", env).wait_ready()
    worker = Daemon("org.apache.spark.deploy.worker.Worker",
                    ["--host", "127.0.0.1", "--cores", str(WORKER_CORES), "--memory", "1g",
                     "--webui-port", str(free_port()), url],
                    "Successfully registered with master", env)
    cluster = Cluster(url, master, worker)
    try:
        worker.wait_ready()
    except BaseException:
        cluster.stop()
        raise
    return cluster
