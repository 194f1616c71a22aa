"""Capture and restore the global RNG states (torch CPU/CUDA, numpy, python) for exact resume.

Torch states are tensors (they go into the checkpoint's tensor section, bit for bit); numpy and
python states are plain ints and lists (they go into the checkpoint's JSON meta). Nothing here is
pickled, so a checkpoint holding them still loads without unpickling.

Example:
    >>> tensors, meta = capture_rng_state()
    >>> a = torch.rand(1)
    >>> restore_rng_state(tensors, meta)
    >>> bool(torch.rand(1) == a)
    True
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from base_dist.errors import UserError


def capture_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return ``(tensors, meta)``: torch states as uint8 tensors, numpy/python states as JSON.

    CUDA states are captured only when CUDA is already initialised, so the driver never creates a
    CUDA context just to checkpoint.

    Example:
        >>> t, m = capture_rng_state()
        >>> sorted(m), "torch_cpu" in t
        (['numpy', 'python'], True)
    """
    tensors: dict[str, torch.Tensor] = {"torch_cpu": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state.clone()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    py_version, py_state, py_gauss = random.getstate()
    meta: dict[str, Any] = {
        "numpy": {"kind": str(kind), "keys": [int(k) for k in keys], "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": py_version, "state": list(py_state), "gauss_next": py_gauss},
    }
    return tensors, meta


def restore_rng_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], origin: str = "checkpoint") -> None:
    """Restore what :func:`capture_rng_state` returned (after a checkpoint round trip too).

    CUDA states are restored for the devices present; missing entries are left alone. A state of
    the wrong shape or type (a damaged or hand-edited ``origin``) is a one-line :class:`UserError`.

    Example:
        >>> restore_rng_state(*capture_rng_state())
    """
    try:
        _restore(tensors, meta)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, RuntimeError) as err:
        raise UserError(f"{origin}: malformed RNG state ({type(err).__name__}: {str(err)[:120]}); "
                        "resume from another checkpoint or start a new run") from err


def _restore(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    if "torch_cpu" in tensors:
        torch.set_rng_state(tensors["torch_cpu"].to(torch.uint8).cpu())
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            state = tensors.get(f"torch_cuda_{i}")
            if state is not None:
                torch.cuda.set_rng_state(state.to(torch.uint8).cpu(), device=i)
    if "numpy" in meta:
        n = meta["numpy"]
        keys = np.asarray(n["keys"], dtype=np.uint32)
        np.random.set_state((n["kind"], keys, int(n["pos"]), int(n["has_gauss"]), float(n["cached_gaussian"])))
    if "python" in meta:
        p = meta["python"]
        # JSON turns tuples into lists; random.setstate needs the exact tuple shape back.
        random.setstate((int(p["version"]), tuple(int(v) for v in p["state"]), p["gauss_next"]))
