"""Small helpers shared by every layer: devices, seeded generators, atomic writes, spawned worker pools.

torch is imported inside the functions that need it: :mod:`base_dist.config` uses the atomic writes,
and the CLI's ``--help`` and config checks must not pay for torch.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when present, else cpu.

    Example:
        >>> resolve_device("cpu").type
        'cpu'
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from base_dist.errors import UserError

        raise UserError("device: cuda requested but no GPU is visible; use --set device=cpu")
    return torch.device(name)


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed derived from (seed, step, tag, ...) by hashing, stable across processes.

    Example:
        >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(1, 0)
        True
    """
    text = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") & ((1 << 63) - 1)


def make_generator(*parts: int | str, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator seeded by :func:`derive_seed` of ``parts``.

    Example:
        >>> import torch
        >>> g = make_generator(3, "task")
        >>> torch.rand(1, generator=g).item() == torch.rand(1, generator=make_generator(3, "task")).item()
        True
    """
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(*parts))
    return gen


@contextmanager
def atomic_write(path: Path, suffix: str = "") -> Iterator[Path]:
    """A hidden temporary sibling of ``path`` to write; it is renamed over ``path`` (atomic on one
    filesystem) when the block ends, and removed when the block raises: a reader, or a run killed
    mid-write, sees the old file or the new one, never half of one. ``suffix`` keeps writers that go
    by the extension (``np.savez``, ``savefig``) writing the right format. (Checkpoints have their
    own, fsync'd protocol in :mod:`base_dist.track.checkpoint`.)

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_write(p) as tmp:
        ...     _ = tmp.write_text("new")
        >>> p.read_text(), [x.name for x in p.parent.iterdir()]
        ('new', ['a.txt'])
    """
    tmp = path.with_name(f".{path.name}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """``path.write_text(text)`` through :func:`atomic_write`."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)
    return path


def map_spawned(fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], workers: int) -> Iterator[T]:
    """``fn(*args)`` for each of ``calls``, ``workers`` at a time in spawned processes; yielded in order.

    A fresh interpreter per worker carries no torch or thread state from the caller, so ``fn`` (a
    module-level function, its arguments picklable) sets its own threads. ``workers`` 1 runs in this
    process. Each result is yielded as soon as it and those before it are done (progress can be logged).

    Example:
        >>> list(map_spawned(max, [(1, 2), (4, 3)], 1))
        [2, 4]
    """
    if workers == 1 or len(calls) <= 1:
        yield from (fn(*args) for args in calls)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(workers, len(calls)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(fn, *args) for args in calls]
        yield from (f.result() for f in futures)


def contiguous_chunks(total: int, parts: int) -> list[range]:
    """``range(total)`` cut into ``parts`` contiguous ranges of near-equal length (the first ones shorter).

    Example:
        >>> contiguous_chunks(5, 2)
        [range(0, 2), range(2, 5)]
    """
    bounds = [total * k // parts for k in range(parts + 1)]
    return [range(a, b) for a, b in itertools.pairwise(bounds)]
