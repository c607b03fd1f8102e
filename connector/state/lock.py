"""The single-instance lock: never two cycles on one state file at once.

An exclusive, non-blocking `flock` on `<state file>.lock`. The kernel releases it when the
process dies, however it dies (kill -9 included), so a crashed run never leaves a stale lock.

The lock is keyed on the state file itself, not on the path as written: the path is resolved
(a symlink to the state file names the same lock), and the state file, when it exists, is
flocked too, so a hard link to it (another name, the same inode) is also refused. flock and
SQLite's own POSIX (fcntl) locks are independent on Linux and macOS, and this descriptor is
closed only after the store is.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from connector.crm.errors import ConfigurationError, LockedError

#: Exit code of `segsync run` / `daemon` when another process holds the lock (EX_TEMPFAIL).
EXIT_LOCKED = 75


class StateLock:
    def __init__(self, state_path: Path) -> None:
        self.state_path = Path(state_path).resolve()
        self.path = Path(f"{self.state_path}.lock")
        self._fd: int | None = None
        self._state_fd: int | None = None

    def acquire(self) -> StateLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigurationError(
                f"state.path: cannot create the lock file {self.path} ({exc.strerror}); the folder must be writable"
            ) from None
        if not _try_flock(fd):
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise self._locked(holder)
        self._fd = fd
        # the file's identity: another name for it (a hard link) is refused too. Created here if
        # new (SQLite takes an empty file as an empty database), so a second name made during this
        # run finds it locked as well.
        try:
            state_fd = os.open(self.state_path, os.O_RDONLY | os.O_CREAT, 0o600)
        except OSError as exc:
            self.release()
            raise ConfigurationError(f"state.path: cannot open {self.state_path} ({exc.strerror})") from None
        if not _try_flock(state_fd):
            os.close(state_fd)
            self.release()
            raise self._locked("unknown")
        self._state_fd = state_fd
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return self

    def _locked(self, holder: str) -> LockedError:
        return LockedError(
            f"another segsync process (pid {holder}) is running on {self.state_path}; not starting a second cycle"
        )

    def release(self) -> None:
        for name in ("_state_fd", "_fd"):
            fd = getattr(self, name)
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                setattr(self, name, None)

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
