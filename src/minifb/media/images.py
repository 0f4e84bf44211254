"""Decoding, cleaning and re-encoding an uploaded image (run off the event loop).

The content alone decides what an upload is: Pillow opens it (reading the header
only), the format must be JPEG, PNG, GIF or WebP, and its pixel count is checked
before anything is decoded. Then it is decoded, turned upright by its EXIF
orientation, and written afresh, so no EXIF (GPS included), ICC profile, comment
or trailing bytes of the upload survive. Animated images are refused
(docs/decisions/0123).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import blurhash
from PIL import Image, ImageOps, UnidentifiedImageError

from minifb.media.exceptions import MediaTooLarge, UnsupportedMedia

T = TypeVar("T")

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
# What each accepted format is stored as: a still GIF becomes a PNG (lossless, smaller).
_OUTPUT = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "PNG", "WEBP": "WEBP"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
LARGE, SMALL = 1080, 320
_BLURHASH_SIDE = 32


@dataclass(frozen=True, slots=True)
class Rendition:
    data: bytes
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Processed:
    format: str  # JPEG, PNG or WEBP: what both renditions are
    large: Rendition
    small: Rendition
    blurhash: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own check (`ImagePool` sets its threshold to ours): a warning past
        # the limit (an error where warnings are errors), an error past twice it.
        raise MediaTooLarge(f"The image has more than {max_pixels} pixels.") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UnsupportedMedia() from exc
    width, height = image.size
    if width * height > max_pixels:
        raise MediaTooLarge(f"The image has more than {max_pixels} pixels.")
    if width < 1 or height < 1:
        raise UnsupportedMedia("The image is empty.")
    if getattr(image, "n_frames", 1) > 1:
        raise UnsupportedMedia("Animated images are not taken; upload a still image.")
    return image


def _decode(image: Image.Image) -> Image.Image:
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # truncated, corrupt
        raise UnsupportedMedia("The image is damaged or truncated.") from exc
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    clean = upright.convert("RGBA" if has_alpha else "RGB")
    clean.info = {}  # nothing of the upload's metadata is written back
    return clean


def _encode(image: Image.Image, side: int, fmt: str) -> Rendition:
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    if fmt == "JPEG" and copy.mode != "RGB":
        copy = copy.convert("RGB")
    out = io.BytesIO()
    if fmt == "JPEG":
        copy.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif fmt == "WEBP":
        copy.save(out, "WEBP", quality=85, method=4)
    else:
        copy.save(out, "PNG", optimize=True)
    return Rendition(out.getvalue(), copy.width, copy.height)


def _blurhash(image: Image.Image) -> str:
    small = image.convert("RGB")
    small.thumbnail((_BLURHASH_SIDE, _BLURHASH_SIDE), Image.Resampling.BILINEAR)
    rows = [
        [list(small.getpixel((x, y))) for x in range(small.width)]  # type: ignore[arg-type]
        for y in range(small.height)
    ]
    x_components = 4 if small.width >= small.height else 3
    y_components = 3 if small.width >= small.height else 4
    return str(blurhash.encode(rows, components_x=x_components, components_y=y_components))


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """`size` scaled down so that its long side is at most `side`."""
    width, height = size
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def process(data: bytes, max_pixels: int) -> Processed:
    """The two renditions and the placeholder of an uploaded image, or a refusal."""
    image = _open(data, max_pixels)
    fmt = _OUTPUT[str(image.format)]
    if image.format == "JPEG":
        # Decode at the smallest scale (1/2, 1/4, 1/8) still at least the large rendition:
        # a 3000x2000 photo decodes at 1500x1000, a quarter of the work.
        image.draft(None, _fit(image.size, LARGE))
    clean = _decode(image)
    if fmt == "JPEG" and clean.mode == "RGBA":
        fmt = "PNG"
    return Processed(
        format=fmt,
        large=_encode(clean, LARGE, fmt),
        small=_encode(clean, SMALL, fmt),
        blurhash=_blurhash(clean),
    )


class ImagePool:
    """A bounded pool of threads for image work: at most `workers` images are decoded
    at once, the rest wait their turn, and the event loop never runs any of it."""

    def __init__(self, workers: int, *, max_pixels: int) -> None:
        # Pillow's own decompression-bomb check, at our limit, as a second line.
        Image.MAX_IMAGE_PIXELS = max_pixels
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="images")

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
