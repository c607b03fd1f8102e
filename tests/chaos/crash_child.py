"""`segsync` in a child process that can die by SIGKILL at a named step (a test hook).

    SEGSYNC_CHAOS_KILL_STEP=assign:after python tests/chaos/crash_child.py run CONFIG

`<step>:before` dies as the step starts, `<step>:after` right after it returned, before the
pipeline records it done. Without the variable this is plain `segsync`. Kills at a given
request number are done from the other side, by the sandbox server (test_crash.py).
"""

from __future__ import annotations

import os
import signal
import sys


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill_hook(spec: str) -> None:
    from connector import steps

    name, when = spec.split(":")
    step = steps.STEP_FUNCTIONS[name]

    def dying_step(ctx: object) -> None:
        if when == "before":
            _die()
        step(ctx)
        if when == "after":
            _die()

    steps.STEP_FUNCTIONS[name] = dying_step


if __name__ == "__main__":
    if os.environ.get("SEGSYNC_CHAOS_KILL_STEP"):
        install_kill_hook(os.environ["SEGSYNC_CHAOS_KILL_STEP"])
    from connector.cli import main

    sys.exit(main(sys.argv[1:]))
