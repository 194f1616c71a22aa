"""Deltas on the wire: one flat numpy buffer instead of a dict of ~2,000 small tensors.

Ray moves a numpy array through the object store as a single zero-copy buffer, while a dict of
tensors is pickled tensor by tensor; at the demo size that is the difference between ~1 ms and
~100 ms per delta on the driver. The order and shapes come from ``W`` itself, which the driver
and every worker hold, so only the values travel. bfloat16 has no numpy dtype: it travels as its
int16 bit pattern.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

WIRE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_CARRIER = {torch.bfloat16: torch.int16}  # dtypes numpy cannot hold, and what carries their bits


def pack(delta: Mapping[str, Tensor], dtype: torch.dtype = torch.float32) -> np.ndarray:
    """All entries flattened in order into one 1-D numpy array of ``dtype`` (bits, for bfloat16).

    Example:
        >>> pack({"a": torch.ones(2), "b": torch.zeros(1)}).tolist()
        [1.0, 1.0, 0.0]
    """
    flat = torch.cat([v.detach().reshape(-1).to("cpu", dtype) for v in delta.values()])
    return flat.view(_CARRIER.get(dtype, dtype)).numpy()


def _as_tensor(buffer: np.ndarray) -> Tensor:
    """A tensor over the buffer without copying. Buffers from Ray's object store are read-only;
    nothing here writes to them (every consumer copies or casts first), so torch's warning about
    non-writable arrays is silenced rather than paid for with a copy."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.asarray(buffer))


def unpack(buffer: np.ndarray, like: Mapping[str, Tensor], dtype: torch.dtype = torch.float32) -> OrderedDict[str, Tensor]:
    """The fp32 dict with ``like``'s names and shapes from a :func:`pack` buffer (views, one cast).

    Example:
        >>> like = {"a": torch.zeros(2), "b": torch.zeros(1)}
        >>> unpack(pack({"a": torch.ones(2), "b": torch.zeros(1)}), like)["a"].tolist()
        [1.0, 1.0]
    """
    flat = _as_tensor(buffer)
    if dtype in _CARRIER:
        flat = flat.view(dtype)
    flat = flat.to(torch.float32)
    sizes = [v.numel() for v in like.values()]
    if flat.numel() != sum(sizes):
        raise ValueError(f"a delta of {flat.numel()} values arrived for a W of {sum(sizes)}: another search space?")
    return OrderedDict((k, part.view(v.shape)) for (k, v), part in zip(like.items(), flat.split(sizes), strict=True))


def buffer_is_finite(buffer: np.ndarray, dtype: torch.dtype = torch.float32) -> bool:
    """True when no value of a :func:`pack` buffer is NaN or inf (fp16 can overflow where fp32 did not).

    Example:
        >>> buffer_is_finite(pack({"a": torch.tensor([1e6])}, torch.float16), torch.float16)
        False
    """
    flat = _as_tensor(buffer)
    return bool(torch.isfinite(flat.view(dtype) if dtype in _CARRIER else flat).all())
