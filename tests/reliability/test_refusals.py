"""Issue 13's reproductions: each exits 2 with one line naming the input and changes nothing on disk."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest
import torch
from reliability_helpers import TINY, snapshot

from base_dist.track.checkpoint import CheckpointStore, load_checkpoint

pytestmark = pytest.mark.timeout(300)


def _refused(result: tuple[int, list[str]], *needles: str) -> str:
    code, lines = result
    assert code == 2 and len(lines) == 1, lines
    assert "internal error" not in lines[0] and all(n in lines[0] for n in needles), lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- 1: a refused resume
def test_refused_resume_leaves_config_and_checkpoints_untouched(run_copy, base_dist):
    before = snapshot(run_copy)
    _refused(base_dist("meta-train", "--resume", run_copy, "--set", "space.channels=8"), "another search space")
    assert snapshot(run_copy) == before
    # ... so a plain resume of the same run is still accepted by the checks that refused the first one.
    (run_copy / "config.yaml").unlink()
    before = snapshot(run_copy)
    _refused(base_dist("meta-train", "--resume", run_copy, "--config", TINY, "--set", "space.channels=8"),
             "another search space")
    assert snapshot(run_copy) == before and not (run_copy / "config.yaml").exists()


# ----------------------------------------------------------------------------- 3: non-finite tensors
def _nan_checkpoint(run: Path) -> Path:
    """Round 3 = round 2 with one NaN in W, written by the store itself (so the digest is valid)."""
    store = CheckpointStore(run / "checkpoints", keep=5)
    ck = load_checkpoint(store.list()[-1])
    ck.tensors["W"]["arch.normal"][0, 0] = float("nan")
    return store.save(3, ck.tensors, ck.meta)


def test_nan_checkpoint_is_refused_by_name_and_a_run_dir_falls_back(run_copy, base_dist):
    bad = _nan_checkpoint(run_copy)
    _refused(base_dist("adapt", "--checkpoint", bad, "--run-dir", run_copy.parent / "a"), str(bad), "W/arch.normal",
             "NaN")
    _refused(base_dist("derive", "--checkpoint", bad, "--run-dir", run_copy.parent / "d"), str(bad), "NaN")
    assert not (run_copy.parent / "a").exists() and not (run_copy.parent / "d").exists()
    assert load_checkpoint(run_copy).round == 2  # the directory falls back to the good round 2


# ----------------------------------------------------------------------------- 4: malformed headers
def _raw_checkpoint(path: Path, record_text: str, extra: str = "") -> Path:
    header = json.dumps({"__metadata__": {"base_dist": record_text}})
    if extra:
        header = header[:-1] + f', "x": {extra}}}'
    data = header.encode()
    path.write_bytes(struct.pack("<Q", len(data)) + data)
    return path


@pytest.mark.parametrize("kind", ["nested-header", "nested-record", "round-is-str", "schema-is-str", "meta-is-list",
                                  "keys-not-str", "config-is-str"])
def test_malformed_newest_checkpoint_falls_back(run_copy, kind):
    good = load_checkpoint(run_copy)
    record = {"schema": 1, "round": 9, "keys": [], "empty_groups": [], "digest": "", "meta": {}}
    deep = "[" * 200_000 + "]" * 200_000
    newest = run_copy / "checkpoints" / "ckpt-000009.safetensors"
    if kind == "nested-header":
        _raw_checkpoint(newest, json.dumps(record), extra=deep)
    elif kind == "nested-record":
        _raw_checkpoint(newest, deep)
    else:
        field, value = {"round-is-str": ("round", "abc"), "schema-is-str": ("schema", "1"),
                        "meta-is-list": ("meta", []), "keys-not-str": ("keys", [1]),
                        "config-is-str": ("meta", {"config": "space"})}[kind]
        _raw_checkpoint(newest, json.dumps({**record, field: value}))
    assert load_checkpoint(run_copy).round == good.round == 2


def test_malformed_checkpoint_given_by_name_is_one_line(run_copy, base_dist):
    bad = _raw_checkpoint(run_copy / "bad.safetensors", json.dumps({"schema": 1, "round": "x", "digest": ""}))
    _refused(base_dist("adapt", "--checkpoint", bad, "--run-dir", run_copy.parent / "a"), str(bad), "'round'")


# ----------------------------------------------------------------------------- 5: user-caused failures
def test_unusable_run_directories(tmp_path, base_dist):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ("data", "sample", "--config", TINY)
    _refused(base_dist(*args, "--run-dir", blocker), str(blocker), "not a directory")
    _refused(base_dist(*args, "--run-dir", blocker / "run"), "a parent is a file")
    _refused(base_dist("meta-train", "--config", TINY, "--run-dir", blocker), "not a directory")
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_run_directory(tmp_path, base_dist):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _refused(base_dist("data", "sample", "--config", TINY, "--run-dir", ro), str(ro), "not writable")
    finally:
        ro.chmod(0o755)


def test_deep_yaml_non_utf8_files_and_oversized_requests(tmp_path, base_dist):
    deep = tmp_path / "deep.yaml"
    deep.write_text("meta: " + "[" * 50_000 + "]" * 50_000 + "\n")
    _refused(base_dist("meta-train", "--config", deep), str(deep), "nested too deeply")
    _refused(base_dist("meta-train", "--config", TINY, "--set", "meta.rounds=" + "[" * 50_000), "nested too deeply")
    latin = tmp_path / "g.txt"
    latin.write_bytes(b"Genotype(normal=[('caf\xe9', 0)])")
    _refused(base_dist("profile", "--genotype", latin), str(latin), "not UTF-8")
    space = tmp_path / "space.yaml"
    space.write_bytes(b"params: {caf\xe9: 1}")
    _refused(base_dist("tune", "--config", TINY, "--space", space, "--run-dir", tmp_path / "t"), str(space), "UTF-8")
    _refused(base_dist("profile", "--image-size", "100000"), "--image-size")
    _refused(base_dist("profile", "--image-size", "1024", "--channels", "1024"), "GiB")
    _refused(base_dist("meta-train", "--config", TINY, "--set", "space.channels=100000"), "space.channels")
    _refused(base_dist("meta-train", "--config", TINY, "--set", "train.batch_size=100000000",
                       "--run-dir", tmp_path / "m"), "train.batch_size")
    ranged = tmp_path / "range.txt"
    ranged.write_text("Genotype(normal=[('skip_connect', 0), ('skip_connect', 1)], normal_concat=range(0, 1000000000000),"
                      " reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2])")
    _refused(base_dist("profile", "--genotype", ranged), str(ranged), "range")
    assert not (tmp_path / "t").exists() and not (tmp_path / "m").exists()


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width x height`` (the pixel data never comes: nothing may decode it)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [9000, 60000])  # above our limit only / above PIL's bomb error too
def test_decompression_bomb_in_an_image_folder_is_named(tmp_path, side):
    from PIL import Image

    from base_dist.data import create_source
    from base_dist.errors import UserError

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / cls / "ok.png")
    bomb = _png_header(tmp_path / "b" / "zz-bomb.png", side, side)
    source = create_source("image-folder", tmp_path)
    with pytest.raises(UserError, match="zz-bomb.png") as err:
        source.pixels(torch.arange(len(source)), 8)
    assert str(bomb) in str(err.value) and "\n" not in str(err.value)


# ----------------------------------------------------------------------------- 6: strict numbers
@pytest.mark.parametrize("value", ["true", "2.0", "1.5", "'2'"])
def test_rounds_must_be_an_integer(value, base_dist, tmp_path):
    _refused(base_dist("meta-train", "--config", TINY, "--set", f"meta.rounds={value}", "--run-dir", tmp_path / "r"),
             "meta.rounds")
    assert not (tmp_path / "r").exists()


def test_floats_refuse_bools_and_nan_but_read_exponents(tmp_path):
    from base_dist.config import load_config
    from base_dist.errors import UserError

    assert load_config(TINY, ["meta.inner_lr_weights=1e-3", "meta.outer_lr=1"]).meta.inner_lr_weights == 0.001
    for bad in ("meta.outer_lr=true", "meta.outer_lr=.nan", "meta.outer_lr=.inf"):
        with pytest.raises(UserError, match="meta.outer_lr"):
            load_config(TINY, [bad])
