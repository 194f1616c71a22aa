"""Reader (and a tiny writer, for tests and fixtures) of the IDX format used by (Fashion-)MNIST.

Layout: two zero bytes, a type code (0x08 = uint8), the number of dimensions, one big-endian int32
per dimension, then the data. Files may be gzip-compressed.

Example:
    >>> import tempfile, numpy as np
    >>> p = Path(tempfile.mkdtemp()) / "x-idx1-ubyte.gz"
    >>> _ = write_idx(p, np.arange(5, dtype=np.uint8))
    >>> read_idx(p).tolist()
    [0, 1, 2, 3, 4]
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import numpy as np

from base_dist.errors import UserError

_TYPES = {0x08: np.dtype(np.uint8)}  # the only type (Fashion-)MNIST uses
MAX_IDX_BYTES = 2 * 2**30  # Fashion-MNIST's largest file is 47 MB; a gzip bomb stops here


def _gunzip(raw: bytes, p: Path) -> bytes:
    """Decompress at most :data:`MAX_IDX_BYTES` (never the whole of a bomb)."""
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
        out = fh.read(MAX_IDX_BYTES + 1)
    if len(out) > MAX_IDX_BYTES:
        raise UserError(f"{p}: decompresses to more than {MAX_IDX_BYTES // 2**30} GiB; not an IDX dataset file")
    return out


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` or plain); a bad file is a one-line :class:`UserError`.

    Example:
        >>> read_idx("/nonexistent-idx1-ubyte.gz")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent-idx1-ubyte.gz: cannot read (FileNotFoundError)
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic: decompress whatever the suffix says
            raw = _gunzip(raw, p)
    except (OSError, EOFError, zlib.error) as exc:
        kind = "corrupt or truncated gzip" if not isinstance(exc, FileNotFoundError) else "cannot read"
        raise UserError(f"{p}: {kind} ({type(exc).__name__})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserError(f"{p}: not an IDX file (bad magic number)")
    code, dims = raw[2], raw[3]
    if code not in _TYPES:
        raise UserError(f"{p}: unsupported IDX element type 0x{code:02x} (only uint8 0x08)")
    if ndim is not None and dims != ndim:
        raise UserError(f"{p}: expected an IDX file with {ndim} dimensions, got {dims}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise UserError(f"{p}: truncated IDX header")
    shape = struct.unpack(f">{dims}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * _TYPES[code].itemsize
    if len(raw) - header != expected:
        raise UserError(f"{p}: truncated or oversized IDX data (expected {expected} bytes for shape "
                        f"{list(shape)}, found {len(raw) - header})")
    return np.frombuffer(raw, dtype=_TYPES[code], offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as IDX (gzip-compressed when the name ends in ``.gz``).

    Example:
        >>> import tempfile
        >>> write_idx(Path(tempfile.mkdtemp()) / "y.idx", np.zeros((2, 2), np.uint8)).stat().st_size
        16
    """
    p = Path(path)
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    data = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    p.write_bytes(gzip.compress(data, mtime=0) if p.suffix == ".gz" else data)
    return p
