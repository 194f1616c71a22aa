"""Atomic, validated, pickle-free checkpoints: one safetensors file per saved round.

A checkpoint is one file ``ckpt-<round>.safetensors`` holding

* every tensor, flattened from nested groups with ``/`` (``W/cell.0.mu``, ``opt/exp_avg/cell.0.mu``,
  ``rng/torch_cpu``), bit for bit, dtype included (fp32, bf16, int64, ...), in insertion order;
* a JSON header (safetensors ``__metadata__``): schema version, round, a digest of the tensor bytes,
  and the caller's ``meta`` dict (config, search-space signature, python/numpy RNG states, ...).

Loading never unpickles anything: a ``torch.save`` file is refused before any of it is parsed.

Shared storage: the directory may sit on a shared filesystem (NFS, a Lustre/GPFS volume, an
object-store FUSE mount) so that a resumed driver on another node finds it. A save writes a temp
file in the same directory, fsyncs it, renames it over the final name (``os.replace``, atomic on
POSIX filesystems and on NFS within one directory) and fsyncs the directory where the filesystem
allows; readers therefore see either the previous or the new complete file. On mounts without
atomic rename (some object-store mounts) a crash can leave a truncated file: :meth:`latest_good`
then falls back to the previous checkpoint. Only one process (the driver) should write a directory.

Example:
    >>> import tempfile
    >>> store = CheckpointStore(tempfile.mkdtemp(), keep=2)
    >>> p = store.save(1, {"W": {"w": torch.ones(2)}}, {"signature": "s"})
    >>> store.latest_good(expect_signature="s").tensors["W"]["w"]
    tensor([1., 1.])
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save_file as st_save_file

from base_dist.config import SpaceConfig, format_validation_error
from base_dist.errors import UserError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CHECKPOINT_SUBDIR = "checkpoints"  # run_dir/checkpoints by convention
_HEADER_KEY = "base_dist"
_NAME_RE = re.compile(r"^ckpt-(\d+)\.safetensors$")
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header

TensorTree = Mapping[str, Any]  # values: a Tensor or a nested TensorTree


class CheckpointError(UserError):
    """A checkpoint cannot be used; the message names the file and why (one line, exit 2)."""


class CheckpointCorrupt(CheckpointError):
    """Truncated, damaged, or not a base-dist checkpoint at all (e.g. a pickle)."""


class CheckpointNonFinite(CheckpointCorrupt):
    """A sound file whose tensors hold NaN or inf: nothing can continue from it, so it falls back too."""


class CheckpointMismatch(CheckpointError):
    """A sound checkpoint of something else: another search space, another set of W names."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: ``tensors`` is nested again (``tensors["W"]["cell.0.mu"]``)."""

    path: Path
    round: int
    tensors: dict[str, Any]
    meta: dict[str, Any]

    @property
    def signature(self) -> str | None:
        """The ``meta["signature"]`` the writer stored (the search-space signature), if any."""
        sig = self.meta.get("signature")
        return None if sig is None else str(sig)


def space_of(ckpt: Checkpoint) -> SpaceConfig:
    """The search space a meta-train or adapt checkpoint holds W for (its ``meta["config"]["space"]``).

    Raises :class:`CheckpointCorrupt` naming the file when there is no W, no config or an invalid space.

    Example:
        >>> from base_dist.config import config_to_dict, load_config
        >>> ck = Checkpoint(Path("c"), 1, {"W": {}}, {"config": config_to_dict(load_config(None))})
        >>> space_of(ck).channels
        8
    """
    cfg = ckpt.meta.get("config") or {}
    if "space" not in cfg or not isinstance(ckpt.tensors.get("W"), dict):
        raise CheckpointCorrupt(f"checkpoint {ckpt.path}: not a meta-train or adapt checkpoint (no W or no config)")
    try:
        return SpaceConfig.model_validate(cfg["space"])
    except ValidationError as err:
        raise CheckpointCorrupt(format_validation_error(err, f"checkpoint {ckpt.path}: config: space")) from err


# ----------------------------------------------------------------------------- tensor trees
def flatten_tensors(tree: TensorTree, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten nested groups into ``"group/sub/name"`` keys, keeping insertion order.

    Example:
        >>> list(flatten_tensors({"W": {"a.mu": torch.zeros(1)}, "step": torch.tensor(3)}))
        ['W/a.mu', 'step']
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in tree.items():
        if not isinstance(key, str) or not key or "/" in key:
            # "/" is the group separator, so a name holding one could not be unflattened.
            raise ValueError(f"checkpoint tensor name {key!r}: must be a non-empty str without '/'")
        name = f"{prefix}/{key}" if prefix else key
        if isinstance(value, torch.Tensor):
            out[name] = value
        elif isinstance(value, Mapping):
            out.update(flatten_tensors(value, name))
        else:
            raise TypeError(f"checkpoint tensor {name!r}: {type(value).__name__} is not a tensor "
                            "(put plain values into meta)")
    return out


def unflatten_tensors(flat: Mapping[str, torch.Tensor], empty_groups: Sequence[str] = ()) -> dict[str, Any]:
    """Inverse of :func:`flatten_tensors` (``empty_groups`` are re-created as ``{}``).

    Raises ValueError when a name is empty or a group and a tensor share a name (a damaged file).

    Example:
        >>> unflatten_tensors({"W/a": torch.zeros(1)})["W"]["a"]
        tensor([0.])
    """
    out: dict[str, Any] = {}
    leaves = [(name.split("/"), tensor) for name, tensor in flat.items()]
    leaves += [(group.split("/") + [None], None) for group in empty_groups]
    for parts, tensor in leaves:
        *groups, leaf = parts
        node = out
        for g in groups:
            node = node.setdefault(g, {}) if g else None
            if not isinstance(node, dict):
                raise ValueError(f"{'/'.join(p for p in parts if p)!r}: a group named like a tensor or an empty name")
        if leaf is not None:
            if not leaf or leaf in node:
                raise ValueError(f"{'/'.join(p for p in parts if p)!r}: an empty or repeated name")
            node[leaf] = tensor
    return out


def tensor_signature(tensors: TensorTree) -> str:
    """A short hash of names, shapes and dtypes: equal for checkpoints of the same search space.

    Useful as ``meta["signature"]`` when the space layer offers nothing better.

    Example:
        >>> tensor_signature({"a": torch.zeros(2)}) == tensor_signature({"a": torch.ones(2)})
        True
    """
    h = hashlib.blake2b(digest_size=8)
    for name, t in flatten_tensors(tensors).items():
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
    return h.hexdigest()


def _digest(flat: Mapping[str, torch.Tensor]) -> str:
    """Hash of every tensor's raw bytes: safetensors checks offsets, not contents."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in flat.items():
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        if t.numel():
            h.update(memoryview(t.contiguous().reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


def _to_cpu_unshared(flat: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, no two entries sharing storage (safetensors refuses shared tensors)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, t in flat.items():
        t = t.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and ptr in seen:
            t = t.clone()
        elif t.numel():
            seen.add(ptr)
        out[name] = t
    return out


# ----------------------------------------------------------------------------- file io
def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; some filesystems (and non-POSIX OSes) cannot fsync a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _plausible_header(data: bytes) -> bool:
    """Whether the first 8 bytes could be a safetensors header length followed by a JSON object."""
    n = int.from_bytes(data[:8], "little")
    return len(data) >= 8 and 0 < n <= _MAX_HEADER and 8 + n <= len(data) and data[8:9] == b"{"


def _read_header(path: Path, data: bytes) -> dict[str, Any]:
    """Parse and check the safetensors header and our JSON record, or raise CheckpointCorrupt."""
    # Zip (torch.save) or raw pickle magic: say so rather than "corrupt", and never parse it.
    if data[:4] == b"PK\x03\x04" or data[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        if not _plausible_header(data):
            raise CheckpointCorrupt(f"checkpoint {path}: a pickle/torch.save file, not a base-dist checkpoint "
                                    "(safetensors); pickled files are never loaded")
    if len(data) < 8:
        raise CheckpointCorrupt(f"checkpoint {path}: truncated ({len(data)} bytes)")
    n = int.from_bytes(data[:8], "little")
    if n > _MAX_HEADER or 8 + n > len(data):
        raise CheckpointCorrupt(f"checkpoint {path}: truncated or not a safetensors file "
                                f"(header says {n} bytes, file has {len(data)})")
    try:
        header = json.loads(data[8:8 + n])
        record = json.loads(header["__metadata__"][_HEADER_KEY])
    except (ValueError, KeyError, TypeError, RecursionError) as err:  # RecursionError: absurdly nested JSON
        raise CheckpointCorrupt(f"checkpoint {path}: no base-dist header ({type(err).__name__}); "
                                "not written by base-dist or damaged") from err
    problem = _record_problem(record)
    if problem:
        raise CheckpointCorrupt(f"checkpoint {path}: malformed base-dist header ({problem})")
    if record["schema"] > SCHEMA_VERSION:
        raise CheckpointMismatch(f"checkpoint {path}: schema {record['schema']} is newer than this "
                                 f"base-dist understands ({SCHEMA_VERSION}); upgrade base-dist")
    return record


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# The record's own fields (what :meth:`CheckpointStore.save` writes), each with its check; the
# meta dict's ``config`` and ``rng``, which loaders read back, must at least be mappings.
_RECORD_FIELDS = {
    "schema": (True, lambda v: _is_int(v) and v >= 1, "a positive int"),
    "round": (True, lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    "digest": (True, lambda v: isinstance(v, str), "a str"),
    "keys": (False, _is_str_list, "a list of str"),
    "empty_groups": (False, _is_str_list, "a list of str"),
    "meta": (False, lambda v: isinstance(v, dict) and all(isinstance(v.get(k, {}), dict | None) for k in ("config", "rng")),
             "a mapping whose config and rng are mappings"),
}


def _record_problem(record: Any) -> str | None:
    """What is wrong with the header record's types, or None: a hostile header must fall back, not crash."""
    if not isinstance(record, dict):
        return f"a {type(record).__name__}, not a mapping"
    for name, (required, ok, want) in _RECORD_FIELDS.items():
        if name not in record:
            if required:
                return f"no {name!r}"
        elif not ok(record[name]):
            return f"{name!r} must be {want}"
    return None


def _check_finite(path: Path, flat: Mapping[str, torch.Tensor]) -> None:
    """Raise CheckpointNonFinite naming the first tensor holding NaN or inf (a valid digest says nothing of that)."""
    for name, t in flat.items():
        if (t.is_floating_point() or t.is_complex()) and t.numel():
            bad = int((~torch.isfinite(t if t.is_complex() else t.float())).sum())
            if bad:
                raise CheckpointNonFinite(f"checkpoint {path}: tensor {name} holds NaN or inf ({bad} of {t.numel()} "
                                          "values); the run diverged or the file was altered")


def _check_expected(path: Path, ckpt: Checkpoint, flat: Mapping[str, torch.Tensor],
                    expect_signature: str | None, expect_tensors: TensorTree | None) -> None:
    """Raise CheckpointMismatch naming the first differences from what the caller expects."""
    if expect_signature is not None and ckpt.signature != expect_signature:
        raise CheckpointMismatch(
            f"checkpoint {path}: written for another search space (signature {ckpt.signature!r}, "
            f"this config has {expect_signature!r}); resume with the config of that run or start a new run dir")
    if expect_tensors is None:
        return
    want = flatten_tensors(expect_tensors)
    groups = {name.split("/", 1)[0] for name in want}
    have = {name: t for name, t in flat.items() if name.split("/", 1)[0] in groups}
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    wrong = [f"{n} {tuple(have[n].shape)}/{have[n].dtype} vs {tuple(t.shape)}/{t.dtype}"
             for n, t in want.items() if n in have and (have[n].shape != t.shape or have[n].dtype != t.dtype)]
    problems = [f"{label}: {', '.join(items[:4])}{' ...' if len(items) > 4 else ''}"
                for label, items in (("missing", missing), ("unexpected", extra), ("shape/dtype", wrong)) if items]
    if problems:
        raise CheckpointMismatch(f"checkpoint {path}: tensors do not match this model ({'; '.join(problems)})")


def load_checkpoint(path: str | Path, expect_signature: str | None = None,
                    expect_tensors: TensorTree | None = None) -> Checkpoint:
    """Load and validate one checkpoint file (or the latest good one in a directory / run dir).

    ``expect_signature`` is compared with ``meta["signature"]``; ``expect_tensors`` (e.g.
    ``{"W": current_W}``) must match the checkpoint's names, shapes and dtypes in those groups.
    Raises :class:`CheckpointCorrupt` or :class:`CheckpointMismatch`, both naming the file.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> p = CheckpointStore(d).save(2, {"W": {"w": torch.zeros(1)}}, {})
        >>> load_checkpoint(p).round
        2
    """
    path = Path(path)
    if path.is_dir():
        sub = path / CHECKPOINT_SUBDIR
        store = CheckpointStore(sub if sub.is_dir() else path)
        found = store.latest_good(expect_signature, expect_tensors)
        if found is None:
            raise CheckpointError(f"checkpoint {path}: directory holds no ckpt-*.safetensors file")
        return found
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise CheckpointError(f"checkpoint {path}: file not found") from err
    except OSError as err:
        raise CheckpointCorrupt(f"checkpoint {path}: cannot read ({err.strerror or err})") from err
    record = _read_header(path, data)
    try:
        raw = st_load(data)
    except (SafetensorError, ValueError, TypeError, RuntimeError, OverflowError) as err:
        raise CheckpointCorrupt(f"checkpoint {path}: truncated or damaged ({str(err)[:200]})") from err
    keys = record.get("keys", list(raw))
    if len(keys) != len(raw) or set(keys) != set(raw):
        raise CheckpointCorrupt(f"checkpoint {path}: tensor list does not match its header")
    flat = {k: raw[k] for k in keys}  # back to the writer's order (safetensors sorts on disk)
    if record["digest"] != _digest(flat):
        raise CheckpointCorrupt(f"checkpoint {path}: tensor bytes do not match the stored digest (damaged)")
    _check_finite(path, flat)
    try:
        tensors = unflatten_tensors(flat, record.get("empty_groups", []))
    except ValueError as err:
        raise CheckpointCorrupt(f"checkpoint {path}: malformed tensor names ({err})") from err
    ckpt = Checkpoint(path=path, round=record["round"], tensors=tensors, meta=record.get("meta", {}))
    _check_expected(path, ckpt, flat, expect_signature, expect_tensors)
    return ckpt


def _empty_groups(tree: TensorTree, prefix: str = "") -> list[str]:
    """Paths of empty groups (e.g. an optimizer state before its first step) so they round-trip."""
    out: list[str] = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            name = f"{prefix}/{key}" if prefix else key
            out.extend(_empty_groups(value, name) if value else [name])
    return out


# ----------------------------------------------------------------------------- the store
class CheckpointStore:
    """A directory of ``ckpt-<round>.safetensors`` files, of which the last ``keep`` are kept.

    ``keep_every`` (optional) also keeps every round that is a multiple of it, so a long run keeps
    the early checkpoints an experiment evaluates without keeping every one.

    The directory may be on a shared filesystem (see the module docstring); only the driver writes.

    Example:
        >>> import tempfile
        >>> s = CheckpointStore(tempfile.mkdtemp(), keep=1)
        >>> _ = s.save(1, {"W": {"w": torch.zeros(1)}}); _ = s.save(2, {"W": {"w": torch.ones(1)}})
        >>> [p.name for p in s.list()]
        ['ckpt-000002.safetensors']
        >>> s = CheckpointStore(tempfile.mkdtemp(), keep=1, keep_every=2)
        >>> for r in range(1, 6): _ = s.save(r, {"W": {"w": torch.zeros(1)}})
        >>> [p.name for p in s.list()]
        ['ckpt-000002.safetensors', 'ckpt-000004.safetensors', 'ckpt-000005.safetensors']
    """

    def __init__(self, directory: str | Path, keep: int = 3, keep_every: int | None = None) -> None:
        if keep < 1:
            raise ValueError("keep must be >= 1")
        if keep_every is not None and keep_every < 1:
            raise ValueError("keep_every must be >= 1 or None")
        self.dir = Path(directory).absolute()
        self.keep = keep
        self.keep_every = keep_every

    def path_for(self, round: int) -> Path:
        """The file a save of ``round`` writes.

        Example:
            >>> CheckpointStore("/tmp/c").path_for(7).name
            'ckpt-000007.safetensors'
        """
        return self.dir / f"ckpt-{round:06d}.safetensors"

    def list(self) -> list[Path]:
        """Checkpoint files, oldest round first (temp files of unfinished saves excluded).

        Example:
            >>> CheckpointStore("/nonexistent/dir").list()
            []
        """
        if not self.dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.dir.iterdir() if (m := _NAME_RE.match(p.name))]
        return [p for _, p in sorted(found)]

    def save(self, round: int, tensors: TensorTree, meta: Mapping[str, Any] | None = None) -> Path:
        """Write the checkpoint of ``round`` atomically, then drop all but the last ``keep``.

        ``round`` is the number of completed rounds W reflects (a resume continues with that round
        index). ``tensors`` may nest groups (``{"W": W, "opt": {"exp_avg": ...}, "rng": ...}``);
        ``meta`` must be JSON-serialisable (config dict, ``"signature"``, RNG lists, ...).

        Example:
            >>> import tempfile
            >>> CheckpointStore(tempfile.mkdtemp()).save(3, {"W": {"w": torch.zeros(1)}}).name
            'ckpt-000003.safetensors'
        """
        if round < 0:
            raise ValueError("round must be >= 0")
        flat = _to_cpu_unshared(flatten_tensors(tensors))
        record = {
            "schema": SCHEMA_VERSION,
            "round": int(round),
            "keys": list(flat),
            "empty_groups": _empty_groups(tensors),
            "digest": _digest(flat),
            "meta": dict(meta or {}),
        }
        try:
            header = json.dumps(record)
        except (TypeError, ValueError) as err:
            raise TypeError(f"checkpoint meta is not JSON-serialisable: {err}") from err
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.path_for(round)
        # Same directory, so the rename never crosses filesystems; the random part keeps a stale
        # temp file of a crashed writer from colliding with ours.
        tmp = self.dir / f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            st_save_file(flat, str(tmp), metadata={_HEADER_KEY: header})
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)  # the bytes must be on disk before the name points at them
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.dir)
        self._prune(keep_path=final)
        return final

    def _prune(self, keep_path: Path | None = None) -> None:
        """Delete checkpoints beyond the newest ``keep`` (never the one just saved, nor a ``keep_every``
        multiple) and temp files of crashed saves."""
        for old in self.list()[: -self.keep]:
            if old != keep_path and not self._kept_for_good(old):
                old.unlink(missing_ok=True)
        for stale in self.dir.glob(".ckpt-*.tmp-*"):
            stale.unlink(missing_ok=True)

    def _kept_for_good(self, path: Path) -> bool:
        match = _NAME_RE.match(path.name)
        return bool(self.keep_every and match and int(match.group(1)) % self.keep_every == 0)

    def load(self, path: str | Path, expect_signature: str | None = None,
             expect_tensors: TensorTree | None = None) -> Checkpoint:
        """Load one checkpoint; see :func:`load_checkpoint`.

        Example:
            >>> import tempfile
            >>> s = CheckpointStore(tempfile.mkdtemp())
            >>> s.load(s.save(1, {"W": {"w": torch.zeros(1)}}, {"signature": "a"}), "a").signature
            'a'
        """
        return load_checkpoint(path, expect_signature, expect_tensors)

    def latest_good(self, expect_signature: str | None = None,
                    expect_tensors: TensorTree | None = None) -> Checkpoint | None:
        """The newest loadable checkpoint, or None when there is none at all.

        A truncated or damaged newest file is skipped with a warning and the previous one tried.
        A foreign checkpoint (:class:`CheckpointMismatch`) is raised at once: an older file of the
        same run would not match either, and silently resuming something else is worse.
        When every file is damaged, :class:`CheckpointCorrupt` lists them.

        Example:
            >>> import tempfile
            >>> CheckpointStore(tempfile.mkdtemp()).latest_good() is None
            True
        """
        paths = self.list()
        errors: list[str] = []
        for path in reversed(paths):
            try:
                return load_checkpoint(path, expect_signature, expect_tensors)
            except CheckpointCorrupt as err:
                log.warning("%s; falling back to the previous checkpoint", err)
                errors.append(str(err))
        if errors:
            raise CheckpointCorrupt(f"no usable checkpoint in {self.dir}: " + " | ".join(errors))
        return None
