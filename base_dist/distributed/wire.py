"""Deltas on the wire: one flat numpy buffer instead of a dict of ~2,000 small tensors.

Ray moves a numpy array through the object store as a single zero-copy buffer, while a dict of
tensors is pickled tensor by tensor; at the demo size that is the difference between ~1 ms and
~100 ms per delta on the driver. Deltas are flat already (:class:`base_dist.space.meta_state.Layout`
order); W's names and shapes are held by the driver and every worker, so only the values travel.
bfloat16 has no numpy dtype: it travels as its int16 bit pattern.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

WIRE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_CARRIER = {torch.bfloat16: torch.int16}  # dtypes numpy cannot hold, and what carries their bits


def pack(flat: Tensor, dtype: torch.dtype = torch.float32) -> np.ndarray:
    """A flat tensor (a delta, or W flattened by its :class:`~base_dist.space.meta_state.Layout`) as one
    1-D numpy array of ``dtype`` (its bits, for bfloat16).

    Example:
        >>> pack(torch.tensor([1.0, 1.0, 0.0])).tolist()
        [1.0, 1.0, 0.0]
    """
    flat = flat.detach().reshape(-1).to("cpu", dtype)
    return flat.view(_CARRIER.get(dtype, dtype)).numpy()


def _as_tensor(buffer: np.ndarray) -> Tensor:
    """A tensor over the buffer without copying. Buffers from Ray's object store are read-only;
    nothing here writes to them (every consumer copies or casts first), so torch's warning about
    non-writable arrays is silenced rather than paid for with a copy."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.asarray(buffer))


def wire_values(buffer: np.ndarray, dtype: torch.dtype = torch.float32) -> Tensor:
    """The values of a :func:`pack` buffer in its wire dtype (a view: no copy, no cast)."""
    flat = _as_tensor(buffer)
    return flat.view(dtype) if dtype in _CARRIER else flat


def unpack(buffer: np.ndarray, dtype: torch.dtype = torch.float32) -> Tensor:
    """The flat fp32 tensor of a :func:`pack` buffer (one cast; a view when it is fp32 already).

    Example:
        >>> unpack(pack(torch.tensor([1.0, 2.0]), torch.bfloat16), torch.bfloat16).tolist()
        [1.0, 2.0]
    """
    return wire_values(buffer, dtype).to(torch.float32)
