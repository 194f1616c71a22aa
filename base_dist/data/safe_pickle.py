"""Reading pickled datasets without letting a crafted file run code.

CIFAR batches and downsampled-ImageNet batches are pickles. :func:`safe_load` admits only plain
containers, numbers, strings, bytes and numpy arrays; any other global (``os.system``,
``builtins.eval``, ...) is refused with a one-line :class:`UserError` naming the file.

Example:
    >>> import io, pickle
    >>> safe_loads(pickle.dumps({"labels": [1, 2]}))
    {'labels': [1, 2]}
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from base_dist.errors import UserError

# The only globals a dataset pickle needs: numpy's array/dtype/scalar reconstruction (under both
# the numpy 1.x ``core`` and 2.x ``_core`` names) and ``_codecs.encode``, which protocol 2 uses
# for bytes. None of them can execute anything but build data.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class _Refused(pickle.UnpicklingError):
    """A global outside the allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` admits only :data:`_ALLOWED` (data, never code)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise _Refused(f"{module}.{name}")
        if module == "_codecs":
            import _codecs

            return _codecs.encode
        if module == "collections":
            import collections

            return collections.OrderedDict
        return super().find_class(module, name)


def safe_loads(data: bytes, origin: str = "<bytes>") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (``latin1`` so Python 2 pickles load).

    Example:
        >>> import pickle, os
        >>> safe_loads(pickle.dumps(os.getcwd), "x.pkl")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: x.pkl: refused to load a pickle that references posix.getcwd (only plain containers, numbers, strings and numpy arrays are allowed)
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except _Refused as exc:
        raise UserError(f"{origin}: refused to load a pickle that references {exc} (only plain containers, "
                        "numbers, strings and numpy arrays are allowed)") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            MemoryError, OverflowError) as exc:
        raise UserError(f"{origin}: corrupt or truncated pickle ({type(exc).__name__}: {_first_line(exc)})") from exc


def safe_load(path: str | Path) -> Any:
    """Unpickle a file through the restricted unpickler; errors name the file.

    Example:
        >>> safe_load("/nonexistent/data_batch_1")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent/data_batch_1: cannot read (FileNotFoundError)
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UserError(f"{p}: cannot read ({type(exc).__name__})") from exc
    return safe_loads(data, str(p))


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, with ``allow_pickle=False`` (object arrays are refused).

    Example:
        >>> load_npz("/nonexistent/val_data.npz")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent/val_data.npz: cannot read .npz (FileNotFoundError: ...)
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile/zlib/ValueError/OSError: any failure here is a bad file
        raise UserError(f"{p}: cannot read .npz ({type(exc).__name__}: {_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "no detail"


def str_keys(d: Any, origin: str) -> dict[str, Any]:
    """A pickled dict with its keys as ``str`` (Python 2 pickles give ``bytes`` keys).

    Example:
        >>> str_keys({b"data": 1}, "f")
        {'data': 1}
    """
    if not isinstance(d, dict):
        raise UserError(f"{origin}: expected a pickled dict, got {type(d).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}
