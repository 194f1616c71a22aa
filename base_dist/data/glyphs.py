"""A many-class image set built offline: letters of many scripts rendered from Debian's fonts.

Every class is one Unicode letter (category ``L*``: no digits of any script, so ``digits`` stays an
unseen domain); its images are the letter drawn in different fonts and weights, each with a seeded
random affine distortion (rotation, scale, shear, shift) and stroke width, white on black, 28x28.
Classes are split by *script*, as Omniglot splits by alphabet: meta-train, val and holdout scripts
share no class. Letters that look alike across scripts (Latin ``o``, Greek ``ο``, Cyrillic ``о``) are
kept once, by comparing their renderings.

The fonts are Debian packages (``fonts-dejavu-core``, ``fonts-dejavu-extra``, ``fonts-freefont-ttf``,
``fonts-liberation2``; ``make data`` installs them). The set depends only on which of the listed font
files are present and on the build parameters, and is cached as one ``.npz`` per combination.

Example:
    >>> g = build_glyphs(GlyphParams(max_per_script=3, images_per_class=4, scripts=("latin", "greek", "hebrew")))
    >>> g.images.shape[1:], sorted(set(g.scripts))
    ((1, 28, 28), ['greek', 'hebrew', 'latin'])
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from base_dist.errors import UserError
from base_dist.utils import atomic_write, make_generator

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/freefont",
             "/usr/share/fonts/truetype/liberation2", "/usr/share/fonts/truetype/liberation")
# A fixed list: the set must not change with whatever else a machine has installed.
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-ExtraLight.ttf",
    "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "FreeSans.ttf", "FreeSansBold.ttf", "FreeSansOblique.ttf", "FreeSerif.ttf", "FreeSerifBold.ttf",
    "FreeSerifItalic.ttf", "FreeMono.ttf", "FreeMonoBold.ttf",
    "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSerif-Regular.ttf",
    "LiberationSerif-Italic.ttf", "LiberationMono-Regular.ttf",
)
HOW_TO_GET = "sudo apt-get install fonts-dejavu-core fonts-dejavu-extra fonts-freefont-ttf fonts-liberation2"

# Unicode ranges of each script's letters (only category L* code points are used).
SCRIPTS: dict[str, tuple[tuple[int, int], ...]] = {
    "latin": ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F)),
    "greek": ((0x391, 0x3C9),),
    "cyrillic": ((0x400, 0x4FF),),
    "armenian": ((0x531, 0x556), (0x561, 0x586)),
    "hebrew": ((0x5D0, 0x5EA),),
    "arabic": ((0x621, 0x64A),),
    "syriac": ((0x710, 0x72F),),
    "thaana": ((0x780, 0x7A5),),
    "nko": ((0x7CA, 0x7EA),),
    "devanagari": ((0x904, 0x939),),
    "bengali": ((0x985, 0x9B9),),
    "gurmukhi": ((0xA05, 0xA39),),
    "gujarati": ((0xA85, 0xAB9),),
    "oriya": ((0xB05, 0xB39),),
    "tamil": ((0xB85, 0xBB9),),
    "telugu": ((0xC05, 0xC39),),
    "kannada": ((0xC85, 0xCB9),),
    "malayalam": ((0xD05, 0xD39),),
    "sinhala": ((0xD85, 0xDC6),),
    "thai": ((0xE01, 0xE2E),),
    "lao": ((0xE81, 0xEAE),),
    "georgian": ((0x10A0, 0x10C5), (0x10D0, 0x10FA)),
    "ethiopic": ((0x1200, 0x135A),),
    "cherokee": ((0x13A0, 0x13F4),),
    "canadian": ((0x1401, 0x166C),),
    "ogham": ((0x1681, 0x169A),),
    "runic": ((0x16A0, 0x16EA),),
    "glagolitic": ((0x2C00, 0x2C5E),),
    "coptic": ((0x2C80, 0x2CE3),),
    "tifinagh": ((0x2D30, 0x2D67),),
}
# Class split by script (Omniglot-style): no letter of a val/holdout script is seen in meta-training.
VAL_SCRIPTS = ("lao", "thaana", "ogham")
HOLDOUT_SCRIPTS = ("cherokee", "tifinagh", "malayalam", "sinhala", "coptic")
SPLITS = ("meta-train", "val", "holdout")


@dataclass(frozen=True)
class Distortion:
    """Ranges of the seeded per-image distortion; each image draws :attr:`uniforms` values in [0, 1)."""

    rotation_deg: float  # full range, centred on 0
    shear: float  # full range, centred on 0
    scale_min: float
    scale_span: float
    shift: float  # full range of the shift, as a fraction of the image size
    max_stroke: int  # extra stroke width in pixels, 0..max_stroke
    clutter_lines: int = 0  # random line segments drawn over the glyph
    cutout: float = 0.0  # side of a square erased from the image, as a fraction of its size (0: none)
    noise: float = 0.0  # standard deviation of additive Gaussian pixel noise (0-255 scale)

    @property
    def uniforms(self) -> int:
        return 7 + 5 * self.clutter_lines + (2 if self.cutout else 0)


DISTORTIONS = {
    # The set every result before 2026-12-04 used (its pixels are unchanged).
    "standard": Distortion(rotation_deg=30.0, shear=0.4, scale_min=0.85, scale_span=0.25, shift=0.12, max_stroke=1),
    # Off the 5-shot ceiling: wider affine ranges, two distractor strokes, an erased square and pixel noise;
    # near-identical classes of the standard rendering are dropped first (:func:`near_identical_pairs`).
    "strong": Distortion(rotation_deg=60.0, shear=0.6, scale_min=0.65, scale_span=0.45, shift=0.24, max_stroke=2,
                         clutter_lines=2, cutout=0.35, noise=20.0),
}
MIN_SWAPS = 10  # a class pair is near-identical when this many of its 2 x 20 images have the other as 1-NN


@dataclass(frozen=True)
class GlyphParams:
    """What the set depends on (besides the fonts): its cache key."""

    image_size: int = 28
    images_per_class: int = 20
    max_per_script: int = 40
    min_fonts: int = 2
    seed: int = 0
    scripts: tuple[str, ...] = tuple(SCRIPTS)
    version: int = 1  # bump when the rendering changes
    distortion: str = "standard"  # a key of DISTORTIONS

    def key(self, fonts: list[Path]) -> str:
        """Hash of the parameters and of the fonts' *contents* (another package version is another set)."""
        digests = [hashlib.blake2b(f.read_bytes(), digest_size=8).hexdigest() for f in fonts]
        fields = asdict(self)
        if self.distortion == "standard":
            del fields["distortion"]  # the standard set keeps the key it had before the field existed
        blob = json.dumps({**fields, "fonts": digests}, sort_keys=True).encode()
        return hashlib.blake2b(blob, digest_size=6).hexdigest()

    def stem(self, fonts: list[Path]) -> str:
        """The cache file's name without ``.npz``: ``glyphs-<key>`` or ``glyphs-<distortion>-<key>``."""
        kind = "" if self.distortion == "standard" else f"{self.distortion}-"
        return f"glyphs-{kind}{self.key(fonts)}"


@dataclass
class GlyphSet:
    """``images`` uint8 ``[N, 1, S, S]``, ``labels`` (class index per image), per-class name and script."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    scripts: list[str]
    fonts: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        """The first 16 hex digits of the pixels' sha256. The cache key hashes only the inputs (parameters,
        font files); this also changes when the renderer (Pillow, FreeType) draws the same fonts differently.

        Example:
            >>> g = GlyphSet(np.zeros((2, 1, 2, 2), np.uint8), np.array([0, 1]), ["a", "b"], ["x", "x"])
            >>> g.fingerprint()
            'af5570f5a1810b7a'
        """
        return hashlib.sha256(np.ascontiguousarray(self.images).tobytes()).hexdigest()[:16]

    def class_split(self, split: str) -> tuple[int, ...]:
        """Class indices of ``meta-train``, ``val`` or ``holdout`` (by script)."""
        def split_of(script: str) -> str:
            return "val" if script in VAL_SCRIPTS else "holdout" if script in HOLDOUT_SCRIPTS else "meta-train"
        return tuple(i for i, s in enumerate(self.scripts) if split_of(s) == split)


def available_fonts() -> list[Path]:
    """The listed font files present on this machine, in list order."""
    found = []
    for name in FONT_FILES:
        for d in FONT_DIRS:
            p = Path(d) / name
            if p.is_file():
                found.append(p)
                break
    return found


def _cmaps(fonts: list[Path]) -> list[set[int]]:
    from fontTools.ttLib import TTFont

    out = []
    for f in fonts:
        with TTFont(str(f), lazy=True) as tt:
            out.append(set(tt.getBestCmap() or {}))
    return out


def _letters(script: str) -> list[int]:
    return [c for lo, hi in SCRIPTS[script] for c in range(lo, hi + 1)
            if unicodedata.category(chr(c)).startswith("L")]


def _render(char: str, font_path: Path, size: int, u: np.ndarray | None,
            distortion: Distortion = DISTORTIONS["standard"]) -> np.ndarray:
    """One glyph, white on black, centred; ``u`` (``distortion.uniforms`` values) drives the distortion,
    None draws it plain."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = size * 3
    plain = u is None
    u = np.full(distortion.uniforms, 0.5) if u is None else u
    font = ImageFont.truetype(str(font_path), int(size * (0.8 + 0.3 * u[0])))
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    stroke = 0 if plain else int(u[1] * (distortion.max_stroke + 1))
    draw.text((canvas // 2, canvas // 2), char, fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255)
    box = img.getbbox()
    if box is None:
        return np.zeros((size, size), np.uint8)
    angle = math.radians(distortion.rotation_deg * (u[2] - 0.5))
    shear = distortion.shear * (u[3] - 0.5)
    scale = distortion.scale_min + distortion.scale_span * u[4]
    # Fit the glyph's box into the image, then rotate/shear/scale about the centre and shift.
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    extent = max(box[2] - box[0], box[3] - box[1], 1)
    k = extent / (0.8 * size) / scale  # source pixels per output pixel
    ca, sa = math.cos(angle), math.sin(angle)
    a, b = k * ca, k * (-sa + shear)
    d, e = k * sa, k * ca
    dx, dy = distortion.shift * size * (u[5] - 0.5), distortion.shift * size * (u[6] - 0.5)
    ox, oy = size / 2 + dx, size / 2 + dy
    coeffs = (a, b, cx - a * ox - b * oy, d, e, cy - d * ox - e * oy)
    out = img.transform((size, size), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)
    if not plain:
        _clutter(out, u[7:], size, distortion)
    return np.asarray(out, dtype=np.uint8)


def _clutter(img: object, u: np.ndarray, size: int, distortion: Distortion) -> None:
    """Distractor strokes (a line of 1-2 px, grey to white), then an erased square, in place."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(img)
    for i in range(distortion.clutter_lines):
        x0, y0, x1, y1, w = u[5 * i:5 * i + 5]
        draw.line([(x0 * size, y0 * size), (x1 * size, y1 * size)], fill=int(128 + 127 * w), width=1 + int(2 * w))
    if distortion.cutout:
        side = distortion.cutout * size
        x, y = u[5 * distortion.clutter_lines:][:2] * (size - side)
        draw.rectangle([x, y, x + side, y + side], fill=0)


def _distinct(candidates: list[tuple[str, str, list[int]]], fonts: list[Path], size: int,
              max_per_script: int) -> list[tuple[str, str, list[int]]]:
    """Drop letters whose plain rendering nearly equals an earlier one's (cross-script homoglyphs)."""
    kept: list[tuple[str, str, list[int]]] = []
    refs: list[np.ndarray] = []
    per_script: dict[str, int] = {}
    for char, script, covering in candidates:
        if per_script.get(script, 0) >= max_per_script:
            continue
        ref = _render(char, fonts[covering[0]], size, None) > 96
        if ref.sum() < 4:  # blank or a dot: not a usable class
            continue
        if refs and min(int((ref ^ r).sum()) for r in refs) < 0.04 * ref.size:
            continue
        kept.append((char, script, covering))
        refs.append(ref)
        per_script[script] = per_script.get(script, 0) + 1
    return kept


def build_glyphs(params: GlyphParams = GlyphParams(), fonts: list[Path] | None = None) -> GlyphSet:
    """Render the set (seconds to a minute); :func:`load_glyphs` caches it."""
    fonts = available_fonts() if fonts is None else fonts
    if len(fonts) < params.min_fonts:
        raise UserError(f"glyphs: found {len(fonts)} of the listed fonts, need {params.min_fonts}; to get them: {HOW_TO_GET}")
    unknown = sorted(set(params.scripts) - set(SCRIPTS))
    if unknown:
        raise UserError(f"glyphs: unknown scripts {unknown} (known: {', '.join(SCRIPTS)})")
    if params.distortion not in DISTORTIONS:
        raise UserError(f"glyphs: unknown distortion {params.distortion!r} (known: {', '.join(DISTORTIONS)})")
    cmaps = _cmaps(fonts)
    candidates = []
    for script in params.scripts:
        for c in _letters(script):
            covering = [i for i, cm in enumerate(cmaps) if c in cm]
            if len(covering) >= params.min_fonts:
                candidates.append((chr(c), script, covering))
    classes = _distinct(candidates, fonts, params.image_size, params.max_per_script)
    if params.distortion != "standard":
        # Letters that only differ in size (Coptic capital/small) become one image once scaled to the frame.
        reference = _render_set(classes, fonts, replace(params, distortion="standard"))
        dropped = {b for _, b in near_identical_pairs(reference)}
        classes = [c for i, c in enumerate(classes) if i not in dropped]
    return _render_set(classes, fonts, params)


def _render_set(classes: list[tuple[str, str, list[int]]], fonts: list[Path], params: GlyphParams) -> GlyphSet:
    distortion = DISTORTIONS[params.distortion]
    n, s = params.images_per_class, params.image_size
    images = np.zeros((len(classes) * n, 1, s, s), np.uint8)
    for ci, (char, _, covering) in enumerate(classes):
        gen = make_generator("glyphs", params.seed, ord(char))  # per letter: dropping a class moves no other
        values = torch.rand((n, distortion.uniforms), generator=gen, dtype=torch.float64).numpy()
        for j in range(n):
            images[ci * n + j, 0] = _render(char, fonts[covering[j % len(covering)]], s, values[j], distortion)
        if distortion.noise:
            noise = torch.randn((n, s, s), generator=gen, dtype=torch.float64).numpy() * distortion.noise
            block = images[ci * n:(ci + 1) * n, 0]
            block[:] = np.clip(block + noise, 0, 255).round().astype(np.uint8)
    labels = np.repeat(np.arange(len(classes)), n)
    names = [f"{script}:U+{ord(char):04X}" for char, script, _ in classes]
    return GlyphSet(images, labels, names, [script for _, script, _ in classes], [f.name for f in fonts])


def nearest_labels(images: np.ndarray, labels: np.ndarray, size: int = 16, chunk: int = 2048) -> np.ndarray:
    """Each image's nearest *other* image's label: cosine of mean-centred pixels after shrinking to
    ``size`` by area averaging (a model-free test of how distinct the classes are)."""
    x = torch.nn.functional.interpolate(torch.tensor(images, dtype=torch.float32), size=size, mode="area")
    x = x.reshape(len(x), -1)
    x = x - x.mean(1, keepdim=True)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)
    out = []
    for start in range(0, len(x), chunk):
        sim = x[start:start + chunk] @ x.T
        rows = torch.arange(sim.shape[0])
        sim[rows, rows + start] = -2.0  # leave the image itself out
        out.append(labels[sim.argmax(1).numpy()])
    return np.concatenate(out)


def near_identical_pairs(glyphs: GlyphSet, classes: tuple[int, ...] | None = None,
                         min_swaps: int = MIN_SWAPS) -> list[tuple[int, int]]:
    """Class pairs ``(a, b)``, ``a < b``, of which at least ``min_swaps`` images have their nearest
    neighbour (:func:`nearest_labels`) in the other class, among ``classes`` (None: all).

    Example:
        >>> same = np.zeros((30, 1, 4, 4), np.uint8); same[:, 0, 0, :2] = 200  # classes a, b: one image
        >>> same[20:, 0] = 200 - same[20:, 0]  # class c: its negative
        >>> near_identical_pairs(GlyphSet(same, np.repeat(np.arange(3), 10), ["a", "b", "c"], ["x"] * 3))
        [(0, 1)]
    """
    keep = np.arange(len(glyphs.labels)) if classes is None else np.flatnonzero(np.isin(glyphs.labels, classes))
    labels = glyphs.labels[keep]
    nearest = nearest_labels(glyphs.images[keep], labels)
    swaps = Counter(tuple(sorted((int(a), int(b)))) for a, b in zip(labels, nearest, strict=True) if a != b)
    return sorted(p for p, count in swaps.items() if count >= min_swaps)


def cache_path(cache_dir: Path, params: GlyphParams, fonts: list[Path]) -> Path:
    return cache_dir / f"{params.stem(fonts)}.npz"


def cached_glyphs_line(cache_dir: Path, params: GlyphParams = GlyphParams()) -> str | None:
    """``glyphs-<cache key>, images sha256 <fingerprint>`` of the set cached for this machine's fonts, None when
    none is cached (nothing is built): results name the exact glyph set they were measured on, since
    another machine's fonts make another set."""
    path = cache_path(cache_dir, params, available_fonts())
    if not path.is_file():
        return None
    return f"{path.stem}, images sha256 {load_glyphs(cache_dir, params).fingerprint()}"


def load_glyphs(cache_dir: Path, params: GlyphParams = GlyphParams()) -> GlyphSet:
    """The set from ``cache_dir`` (built and written atomically on first use)."""
    fonts = available_fonts()
    path = cache_path(cache_dir, params, fonts)
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return GlyphSet(z["images"], z["labels"], [str(x) for x in z["class_names"]],
                            [str(x) for x in z["scripts"]], [str(x) for x in z["fonts"]])
    glyphs = build_glyphs(params, fonts)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, ".npz") as tmp:
            np.savez_compressed(tmp, images=glyphs.images, labels=glyphs.labels,
                                class_names=np.array(glyphs.class_names), scripts=np.array(glyphs.scripts),
                                fonts=np.array(glyphs.fonts))
    except OSError:
        pass  # a read-only cache only costs a rebuild next time
    return glyphs
