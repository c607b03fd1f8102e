"""The daemon: one cycle at a time on the schedule; a stop lets the step reach its checkpoint."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.config import ScheduleConfig, load_config
from connector.daemon import Daemon, build_trigger
from connector.pipeline import CycleContext
from connector.state import StateLock, StateStore
from tests.reaper import watch


def config_file(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "segsync.yaml"
    p.write_text(f"state:\n  path: state.sqlite\nschedule:\n  interval_minutes: 1440\n  run_on_start: true\n{extra}")
    return p


def test_triggers_from_schedule() -> None:
    cron = build_trigger(ScheduleConfig(cron="30 5 * * 1-5", timezone="Europe/Berlin"))
    assert isinstance(cron, CronTrigger) and str(cron.timezone) == "Europe/Berlin"
    assert "hour='5'" in str(cron) and "minute='30'" in str(cron) and "day_of_week='1-5'" in str(cron)
    interval = build_trigger(ScheduleConfig(interval_minutes=90))
    assert isinstance(interval, IntervalTrigger) and interval.interval.total_seconds() == 5400


def test_stop_mid_step_records_interrupted_and_releases_lock(tmp_path: Path) -> None:
    cfg = load_config(config_file(tmp_path), env={})
    entered, release = threading.Event(), threading.Event()
    pushed: list[int] = []

    def pull(ctx: CycleContext) -> None:
        ctx.count("pulled", 10)
        entered.set()
        assert release.wait(30)
        ctx.check_stop()  # the batch boundary: the stop takes effect here

    def push(ctx: CycleContext) -> None:
        pushed.append(1)

    daemon = Daemon(cfg, steps={"pull": pull, "push": push})
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
    thread.start()
    assert entered.wait(30)
    daemon.request_stop()
    release.set()
    thread.join(30)
    assert not thread.is_alive()
    assert pushed == []  # no step after the checkpoint ran
    with StateStore(tmp_path / "state.sqlite") as store:
        (run,) = store.runs.last()
        assert (run.status, run.current_step, run.counts) == ("interrupted", "pull", {"pulled": 10})
    StateLock(tmp_path / "state.sqlite").acquire().release()


def test_sigterm_to_running_daemon_exits_cleanly_with_run_recorded(tmp_path: Path) -> None:
    cfg = config_file(tmp_path, "logging:\n  format: json\n")
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "daemon", str(cfg)], stderr=subprocess.PIPE, text=True)
    watch(proc.pid)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # blocks on the pipe until the first cycle is done; no sleeping
        lines.append(line)
        if '"cycle succeeded' in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines) + rest
    assert "daemon stopped cleanly" in rest
    assert '"run_id": 1' in "".join(lines)
    with StateStore(tmp_path / "state.sqlite") as store:
        runs = store.runs.last()
        assert [r.status for r in runs] == ["succeeded"]
    StateLock(tmp_path / "state.sqlite").acquire().release()
