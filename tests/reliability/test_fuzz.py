"""Property-based fuzzing of every reader of user input: the only outcomes are a result or a UserError.

Never another exception, never a hang (pytest-timeout), never code execution (payloads that would
create a file are among the inputs, and the file must never appear). Seeded (``derandomize``) and
bounded, with no example database, so CI runs the same examples in seconds and writes nothing.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import TINY

from base_dist.config import apply_overrides, config_from_dict, load_config
from base_dist.errors import UserError
from base_dist.space.genotypes import genotype_from_json, parse_darts_genotype
from base_dist.track.checkpoint import CheckpointStore, load_checkpoint

pytestmark = pytest.mark.timeout(120)
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SENTINEL = Path("/tmp/base-dist-fuzz-code-ran")  # a payload that runs code would create it


def _only_user_errors(fn, *args) -> None:
    try:
        fn(*args)
    except UserError as err:
        assert str(err) and "\n" not in str(err).strip(), repr(err)
    assert not SENTINEL.exists(), "fuzzed input executed code"


PAYLOAD = f"__import__('pathlib').Path({str(SENTINEL)!r}).touch()"
KEYS = ["meta", "space", "data", "train", "adapt", "dist", "tracking", "rounds", "channels", "heads", "n_ways",
        "image_size", "sources", "name", "seed", "inner_lr_weights", "batch_size", "n_way", "bogus", "stride"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["1e-3", "fashion-mnist", PAYLOAD]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
                      max_leaves=20)


# ----------------------------------------------------------------------------- config and --set
@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_config_tree(data):
    _only_user_errors(config_from_dict, data)


@FUZZ
@given(st.lists(st.tuples(st.lists(st.sampled_from(KEYS + [""]), min_size=1, max_size=3),
                          st.one_of(st.text(max_size=20), st.sampled_from(["true", "2.0", "[1, [2]]", "{a: 1}", ".nan",
                                                                          "!!python/object/apply:os.system [x]"]))),
                max_size=4))
def test_set_overrides(items):
    sets = [".".join(key) + "=" + value for key, value in items]
    _only_user_errors(load_config, TINY, sets)


@FUZZ
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin1")),
                 values.map(json.dumps), st.integers(1, 300).map(lambda n: "a: " + "[" * n)))
def test_config_file(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    _only_user_errors(load_config, path)
    _only_user_errors(apply_overrides, {}, [f"meta.rounds={text}"])


# ----------------------------------------------------------------------------- genotypes
pair = st.tuples(st.sampled_from(["sep_conv_3x3", "skip_connect", "none", "x" * 3, PAYLOAD]),
                 st.one_of(st.integers(-3, 10**13), st.booleans(), st.text(max_size=3)))
cell = st.lists(pair, max_size=8)
concat = st.one_of(st.lists(st.one_of(st.integers(-2, 40), st.booleans(), st.floats()), max_size=6),
                   st.tuples(st.integers(-10**13, 10**13), st.integers(-10**13, 10**13)).map(lambda t: f"range{t}"),
                   st.just(PAYLOAD), st.just("[2] * 10**9"))


@FUZZ
@given(cell, concat, cell, concat, st.sampled_from(["Genotype", "genotypes.Genotype", "eval", "__import__('os').system"]))
def test_darts_genotype_text(normal, nc, reduce, rc, name):
    text = f"{name}(normal={normal!r}, normal_concat={nc if isinstance(nc, str) else repr(nc)}, reduce={reduce!r}, " \
           f"reduce_concat={rc if isinstance(rc, str) else repr(rc)})"
    _only_user_errors(parse_darts_genotype, text)


@FUZZ
@given(st.one_of(st.text(max_size=200), st.integers(1, 5000).map(lambda n: "(" * n + "1" + ")" * n),
                 st.integers(1, 5000).map(lambda n: "Genotype(normal=" + "[" * n + "]" * n + ")")))
def test_darts_genotype_garbage(text):
    _only_user_errors(parse_darts_genotype, text)


@FUZZ
@given(st.one_of(values.map(json.dumps), st.text(max_size=100), st.integers(1, 5000).map(lambda n: "[" * n),
                 st.fixed_dictionaries({"normal": st.lists(st.lists(values, max_size=3), max_size=6),
                                        "normal_concat": values, "reduce": st.lists(st.lists(values, max_size=3)),
                                        "reduce_concat": values}).map(json.dumps)))
def test_genotype_json(text):
    _only_user_errors(genotype_from_json, text)


# ----------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> bytes:
    d = tmp_path_factory.mktemp("ck")
    path = CheckpointStore(d).save(1, {"W": {"a": torch.randn(3, 2), "b": torch.zeros(4, dtype=torch.bfloat16)},
                                       "opt": {}, "rng": {"torch_cpu": torch.get_rng_state()}},
                                   {"signature": "s", "config": {"space": {}}, "rng": {}})
    return path.read_bytes()


def _load_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "ckpt-000001.safetensors"
    path.write_bytes(data)
    load_checkpoint(path, expect_signature="s")


@FUZZ
@given(st.binary(max_size=400))
def test_checkpoint_random_bytes(tmp_path, data):
    _only_user_errors(_load_bytes, tmp_path, data)


@FUZZ
@given(st.data())
def test_checkpoint_truncations_and_flips(tmp_path, good_checkpoint, data):
    blob = bytearray(good_checkpoint[:data.draw(st.integers(0, len(good_checkpoint)))])
    for _ in range(data.draw(st.integers(0, 3))):
        if blob:
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
    _only_user_errors(_load_bytes, tmp_path, bytes(blob))


@FUZZ
@given(st.data())
def test_checkpoint_random_headers(tmp_path, good_checkpoint, data):
    n = struct.unpack("<Q", good_checkpoint[:8])[0]
    header = json.loads(good_checkpoint[8:8 + n])
    record = json.loads(header["__metadata__"]["base_dist"])
    for key in data.draw(st.lists(st.sampled_from(sorted(record) + ["extra"]), max_size=3)):
        record[key] = data.draw(values)
    if data.draw(st.booleans()):
        name = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
        header[name] = data.draw(values)
    header["__metadata__"]["base_dist"] = json.dumps(record)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    _only_user_errors(_load_bytes, tmp_path, struct.pack("<Q", len(raw)) + raw + good_checkpoint[8 + n:])


# ----------------------------------------------------------------------------- dataset readers
@FUZZ
@given(st.one_of(st.binary(max_size=300),
                 st.tuples(st.integers(0, 4), st.lists(st.integers(0, 2**32 - 1), max_size=4), st.binary(max_size=64))
                 .map(lambda t: bytes([0, 0, 8, t[0]]) + b"".join(struct.pack(">I", d) for d in t[1]) + t[2])),
       st.booleans())
def test_idx_reader(tmp_path, data, compress):
    from base_dist.data.idx import read_idx

    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(data) if compress else data)
    _only_user_errors(read_idx, path)


class _RunsCode:
    def __reduce__(self):
        return (exec, (PAYLOAD,))


pickled = st.one_of(
    st.binary(max_size=300),
    st.fixed_dictionaries({"data": st.one_of(values, st.integers(0, 4).map(lambda n: np.zeros((n, 3072), np.uint8)),
                                             st.just(np.zeros((2, 5), np.float32))),
                           "labels": st.one_of(values, st.lists(st.integers(-5, 5), max_size=4))})
    .map(lambda d: pickle.dumps(d, protocol=2)),
    st.just(pickle.dumps(_RunsCode())), st.just(pickle.dumps({"data": _RunsCode()})))


@FUZZ
@given(pickled)
def test_cifar_pickles(tmp_path, blob):
    from base_dist.data.sources.cifar import _label_names, read_batch

    path = tmp_path / "data_batch_1"
    path.write_bytes(blob)
    _only_user_errors(read_batch, path, "labels")
    _only_user_errors(_label_names, path, "label_names")


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height)).save(buf, format="PNG")
    return buf.getvalue()


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.tuples(st.integers(1, 12), st.integers(1, 12)).map(lambda t: _png(*t))),
       st.data())
def test_image_files(tmp_path, blob, data):
    from base_dist.data.transforms import decode_image_file

    blob = bytearray(blob)
    if len(blob) > 24 and data.draw(st.booleans()):  # the IHDR size fields of a PNG: claim any size
        blob[16:24] = struct.pack(">II", data.draw(st.integers(0, 2**31 - 1)), data.draw(st.integers(0, 2**31 - 1)))
    path = tmp_path / "img.png"
    path.write_bytes(bytes(blob))
    _only_user_errors(decode_image_file, path, 8)
