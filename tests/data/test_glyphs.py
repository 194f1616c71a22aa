"""The offline many-class glyph source: classes are letters (no digits), splits by script are disjoint."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from base_dist.data.glyphs import (
    HOLDOUT_SCRIPTS,
    SPLITS,
    VAL_SCRIPTS,
    GlyphParams,
    available_fonts,
    build_glyphs,
    load_glyphs,
)

pytestmark = pytest.mark.skipif(len(available_fonts()) < 2, reason="the glyph fonts are not installed (make data)")
SMALL = GlyphParams(max_per_script=4, images_per_class=6, scripts=("latin", "greek", "cyrillic", "cherokee", "lao"))


@pytest.fixture(scope="module")
def small():
    return build_glyphs(SMALL)


def test_small_build_has_letters_only_and_varied_images(small):
    assert small.images.shape == (len(small.class_names) * 6, 1, 28, 28) and small.images.dtype == np.uint8
    for name in small.class_names:
        char = chr(int(name.split("U+")[1], 16))
        assert unicodedata.category(char).startswith("L")
    first = small.images[:6, 0].astype(int)
    assert all(np.abs(first[0] - first[j]).sum() > 0 for j in range(1, 6))  # fonts and distortions differ
    assert all(img.max() > 100 for img in small.images[:, 0])  # no blank renders


def test_build_is_deterministic(small):
    again = build_glyphs(SMALL)
    assert np.array_equal(again.images, small.images) and again.class_names == small.class_names


def test_class_splits_are_disjoint_and_by_script(small):
    parts = {s: set(small.class_split(s)) for s in SPLITS}
    assert sum(len(p) for p in parts.values()) == len(small.class_names)
    assert not (parts["meta-train"] & parts["holdout"]) and not (parts["val"] & parts["holdout"])
    assert {small.scripts[c] for c in parts["holdout"]} <= set(HOLDOUT_SCRIPTS)
    assert {small.scripts[c] for c in parts["val"]} <= set(VAL_SCRIPTS)


def test_cache_round_trip(tmp_path):
    from base_dist.data.glyphs import cached_glyphs_line

    assert cached_glyphs_line(tmp_path, SMALL) is None  # nothing cached: nothing is built to name it
    built = load_glyphs(tmp_path, SMALL)
    assert cached_glyphs_line(tmp_path, SMALL).endswith(f"images sha256 {built.fingerprint()}")
    assert len(list(tmp_path.glob("glyphs-*.npz"))) == 1
    cached = load_glyphs(tmp_path, SMALL)
    assert np.array_equal(cached.images, built.images) and cached.scripts == built.scripts


def test_registered_sources_cover_hundreds_of_classes():
    from base_dist.data import create_source

    full = create_source("glyphs")
    assert full.num_classes >= 300 and min(np.bincount(full.labels.numpy())) >= 20
    assert set(full.class_splits) == set(SPLITS)
    holdout = create_source("glyphs-holdout")
    assert holdout.num_classes == len(full.class_splits["holdout"])
    assert holdout.split_sizes()["train"] == 15 * holdout.num_classes
    hard = create_source("glyphs-hard")
    assert set(hard.class_names) < set(full.class_names) and hard.num_classes >= 300
    assert create_source("glyphs-hard-holdout").num_classes == len(hard.class_splits["holdout"])


def test_standard_key_is_the_one_before_distortions_existed():
    import hashlib
    import json
    from dataclasses import asdict

    fonts = available_fonts()[:2]
    legacy = {k: v for k, v in asdict(SMALL).items() if k != "distortion"}
    digests = [hashlib.blake2b(f.read_bytes(), digest_size=8).hexdigest() for f in fonts]
    blob = json.dumps({**legacy, "fonts": digests}, sort_keys=True).encode()
    assert SMALL.key(fonts) == hashlib.blake2b(blob, digest_size=6).hexdigest()  # cached sets keep their names
    strong = GlyphParams(**{**asdict(SMALL), "distortion": "strong"})
    assert strong.key(fonts) != SMALL.key(fonts) and strong.stem(fonts).startswith("glyphs-strong-")


def test_strong_rendering_drops_letters_that_only_differ_in_size():
    from base_dist.data.glyphs import near_identical_pairs

    coptic = dict(max_per_script=8, images_per_class=20, scripts=("coptic", "latin"))
    standard = build_glyphs(GlyphParams(**coptic))
    strong = build_glyphs(GlyphParams(**coptic, distortion="strong"))
    pairs = near_identical_pairs(standard)
    assert pairs and all(standard.scripts[a] == "coptic" for a, _ in pairs)  # capital/small letters scaled alike
    dropped = {standard.class_names[b] for _, b in pairs}
    assert strong.class_names == [n for n in standard.class_names if n not in dropped]
    kept = [standard.class_names.index(n) for n in strong.class_names]
    same = standard.images.reshape(len(standard.class_names), 20, -1)[kept].reshape(strong.images.shape)
    assert not np.array_equal(same, strong.images)  # the same letters, distorted differently
    assert np.array_equal(build_glyphs(GlyphParams(**coptic, distortion="strong")).images, strong.images)


def test_unknown_distortion_is_refused():
    from base_dist.errors import UserError

    with pytest.raises(UserError, match="unknown distortion 'wavy'"):
        build_glyphs(GlyphParams(**{**SMALL.__dict__, "distortion": "wavy"}))
