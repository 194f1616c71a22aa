"""Worker bodies with injected faults, for the distributed tests (importable by Ray workers)."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Any

from base_dist.distributed.worker import TaskWorker


class KillOnceWorker(TaskWorker):
    """SIGKILLs its own process on round 1, task 0, the first time any worker gets there.

    The marker file (named after ``cfg.name``, unique per test) makes it happen once across actors.
    """

    def run(self, w_box: list[Any], round_idx: int, index: int, attempt: int, spec: Any):
        marker = Path(tempfile.gettempdir()) / f"base-dist-kill-{self.cfg.name}"
        if round_idx == 1 and index == 0 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().run(w_box, round_idx, index, attempt, spec)


class NanOnceWorker(TaskWorker):
    """Returns a NaN delta for round 0, task 1, first draw."""

    def run(self, w_box: list[Any], round_idx: int, index: int, attempt: int, spec: Any):
        info, delta = super().run(w_box, round_idx, index, attempt, spec)
        if round_idx == 0 and index == 1 and attempt == 0:
            delta = delta.copy()
            delta[:10] = float("nan")  # the packed delta (see base_dist.distributed.wire)
            info["finite"] = False
        return info, delta
