"""Small helpers shared by every layer: devices, seeded generators, threads."""

from __future__ import annotations

import hashlib

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when present, else cpu.

    Example:
        >>> resolve_device("cpu").type
        'cpu'
    """
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
        >>> g = make_generator(3, "task")
        >>> torch.rand(1, generator=g).item() == torch.rand(1, generator=make_generator(3, "task")).item()
        True
    """
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(*parts))
    return gen
