"""The registry of data sources: one file in ``base_dist/data/sources/`` per source.

A source module defines a :class:`SourceLoader` subclass decorated with :func:`register_source`.
:func:`create_source` finds its root, loads it once per process and caches it; a load that fails
leaves nothing in the cache.

Example:
    >>> "fashion-mnist" in list_sources() and "digits" in list_sources()
    True
    >>> create_source("digits").num_classes
    10
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from base_dist.data import discovery
from base_dist.data.source import Source
from base_dist.errors import UserError


@dataclass(frozen=True)
class SourceMeta:
    """What a task spec needs without loading pixels: class names and an optional fixed class split."""

    class_names: tuple[str, ...]
    class_splits: dict[str, tuple[int, ...]] | None = None


class SourceLoader:
    """Base of every registered source. Subclasses set ``name``/``marker`` and implement :meth:`load`."""

    name: ClassVar[str] = ""
    marker: ClassVar[str | tuple[str, ...]] = ()  # file(s) whose presence identifies a root
    description: ClassVar[str] = ""

    @classmethod
    def locate(cls, root: str | os.PathLike | None = None) -> Path:
        """The directory holding the data (explicit root, then $BASE_DIST_DATA, then /usr/share/datasets)."""
        return discovery.find_root(cls.name, cls.marker, root)

    @classmethod
    def load(cls, root: Path) -> Source:
        """Read everything (or index the files) under ``root``."""
        raise NotImplementedError

    @classmethod
    def meta(cls, root: Path) -> SourceMeta:
        """Class names (and fixed class split) — override when that is cheaper than a full load."""
        src = create_source(cls.name, root)
        splits = {k: tuple(v) for k, v in src.class_splits.items()} if src.class_splits else None
        return SourceMeta(tuple(src.class_names), splits)

    @classmethod
    def download(cls, root: Path) -> None:
        """Fetch the data into ``root`` (only when the user asks for it)."""
        raise UserError(f"source {cls.name!r} has no download; {discovery.HOW_TO_GET.get(cls.name, 'pass --data-root DIR')}")


_REGISTRY: dict[str, type[SourceLoader]] = {}
_CACHE: dict[tuple[str, str], Source] = {}
_META_CACHE: dict[tuple[str, str], SourceMeta] = {}
_LOCK = threading.RLock()
_IMPORTED = False


def register_source(cls: type[SourceLoader]) -> type[SourceLoader]:
    """Class decorator adding a loader to the registry under ``cls.name``.

    Example:
        >>> @register_source
        ... class Toy(SourceLoader):
        ...     name = "toy-doctest"
        >>> "toy-doctest" in list_sources()
        True
    """
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _import_sources() -> None:
    """Import every module of ``base_dist.data.sources`` once, so each registers itself."""
    global _IMPORTED
    if _IMPORTED:
        return
    from base_dist.data import sources

    for mod in pkgutil.iter_modules(sources.__path__):
        importlib.import_module(f"{sources.__name__}.{mod.name}")
    _IMPORTED = True


def list_sources() -> list[str]:
    """Registered source names, sorted.

    Example:
        >>> "cifar10" in list_sources()
        True
    """
    _import_sources()
    return sorted(_REGISTRY)


def check_dataset(name: str, option: str | None = None) -> None:
    """Raise :class:`UserError` naming the known datasets when ``name`` is not one of them.

    ``option`` is the command-line option the name came through, if any (see :class:`UserError`).

    Example:
        >>> check_dataset("digits")
        >>> check_dataset("digitz")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: unknown dataset 'digitz'; known: ...
    """
    known = list_sources()
    if name not in known:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(known)}", option=option)


def get_loader(name: str) -> type[SourceLoader]:
    """The loader class of ``name``; an unknown name is a one-line :class:`UserError`.

    Example:
        >>> get_loader("nope")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: unknown data source 'nope' (registered: cifar10, cifar100, digits, fashion-mnist, glyphs, glyphs-holdout, image-folder, imagenet32, imagenet64, mini-imagenet, omniglot, svhn)
    """
    _import_sources()
    if name not in _REGISTRY:
        known = ", ".join(n for n in sorted(_REGISTRY) if not n.endswith("-doctest"))
        raise UserError(f"unknown data source {name!r} (registered: {known})")
    return _REGISTRY[name]


def locate_source(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where ``name`` is found (raises :class:`UserError` naming --data-root when it is not).

    Example:
        >>> locate_source("digits").name
        'data'
    """
    return get_loader(name).locate(root)


def create_source(name: str, root: str | os.PathLike | None = None, download: bool = False) -> Source:
    """The loaded :class:`Source` ``name`` (cached per process and resolved root).

    ``download=True`` fetches the data first when it is missing and the source supports it.

    Example:
        >>> create_source("digits") is create_source("digits")
        True
    """
    loader = get_loader(name)
    if download:
        try:
            loader.locate(root)
        except UserError:
            target = Path(root) if root is not None else Path(os.environ.get(discovery.ENV_VAR) or ".") / name
            loader.download(target)
    where = loader.locate(root)
    key = (name, str(where.resolve()))
    with _LOCK:  # one load per process even when threads race for it
        cached = _CACHE.get(key)
        if cached is None:
            cached = loader.load(where)  # raises before anything is cached: no half-loaded entries
            _CACHE[key] = cached
        return cached


def source_meta(name: str, root: str | os.PathLike | None = None) -> SourceMeta:
    """Class names and fixed class split of ``name`` without loading pixels where the source allows it.

    Example:
        >>> len(source_meta("fashion-mnist").class_names)
        10
    """
    loader = get_loader(name)
    where = loader.locate(root)
    key = (name, str(where.resolve()))
    with _LOCK:
        if key in _CACHE:
            src = _CACHE[key]
            splits = {k: tuple(v) for k, v in src.class_splits.items()} if src.class_splits else None
            return SourceMeta(tuple(src.class_names), splits)
        if key not in _META_CACHE:
            _META_CACHE[key] = loader.meta(where)
        return _META_CACHE[key]


def clear_cache() -> None:
    """Forget every loaded source (tests; or to free memory)."""
    with _LOCK:
        _CACHE.clear()
        _META_CACHE.clear()
