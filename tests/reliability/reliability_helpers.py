"""Constants and helpers of the reliability tests (a module name no other test folder uses)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "jobs" / "configs" / "tiny.yaml"


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (the lock file's holder note excluded) by relative path."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != ".lock"}
