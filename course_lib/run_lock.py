"""An exclusive lock on a run directory, so that two trainings never write into the same one.

``fcntl.flock`` on ``<run_dir>/.lock``: the kernel drops the lock when its holder exits, however it
exits (SIGKILL included), so a stale lock file never blocks a later run. The file holds the
holder's PID, which the refusal names.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class RunLocked(RuntimeError):
    """Another process is training in this run directory."""


class RunLock:
    """Context manager holding ``<run_dir>/.lock`` for the duration of a run."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / ".lock"
        self._fh = None

    def __enter__(self) -> RunLock:
        try:
            fh = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        except OSError as err:
            raise PermissionError(
                f"cannot write in run directory {self.path.parent}: {err}"
            ) from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise RunLocked(
                f"{self.path.parent} is in use by another training (PID {holder}); wait for it "
                "to finish or choose another --run-dir"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
