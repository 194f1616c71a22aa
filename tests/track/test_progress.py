"""Progress lines: pure formatting, TTY live line, plain log lines otherwise."""

import io
import logging

import pytest

from base_dist.track.progress import ProgressReporter, estimate_eta, format_duration, format_progress


def test_format_progress() -> None:
    assert format_progress(3, 10, tasks_per_s=4.254, val_acc=0.6123, eta_s=3725) == \
        "round 3/10 | 4.25 tasks/s | val acc 61.2% | ETA 1h02m"
    assert format_progress(1, 2) == "round 1/2"
    assert format_progress(2, 2, extra={"tau": 0.5}, eta_s=0) == "round 2/2 | tau 0.5 | ETA 0s"
    assert [format_duration(s) for s in (0, 59.4, 60, 3599, None, float("nan"))] == ["0s", "59s", "1m00s", "59m59s", "?", "?"]
    assert estimate_eta(10.0, 0, 5) is None and estimate_eta(10.0, 5, 5) == 10.0


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tty_rewrites_one_line() -> None:
    out = _Tty()
    p = ProgressReporter(total=4, start=1, stream=out)
    p.update(2, tasks_per_s=1.0)
    p.update(3, tasks_per_s=1.0, val_acc=0.25)
    p.close()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "round 3/4" in text and "val acc 25.0%" in text


def test_non_tty_logs_plain_lines(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    with caplog.at_level(logging.INFO, logger="base_dist.track.progress"):
        p = ProgressReporter(total=2, stream=out)
        p.update(1, val_acc=0.5)
        p.close()
    assert out.getvalue() == ""
    assert "round 1/2 | val acc 50.0%" in caplog.text and "\r" not in caplog.text


def test_a_budget_caps_the_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 5.0])  # the reporter starts at 0 s; one round is done at 5 s
    monkeypatch.setattr("base_dist.track.progress.time.monotonic", lambda: next(clock))
    line = ProgressReporter(total=10, stream=io.StringIO(), tty=False, budget_s=12.0).update(1)
    assert line.endswith("ETA 7s")  # 9 rounds of 5 s would be 45 s; the budget ends the run in 7
