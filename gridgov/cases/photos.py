"""Uploaded photos (照片): checked by content, re-encoded, and served only to those who may
see the case (SECURITY.md R28).

An upload is refused unless its first bytes are those of a JPEG, PNG or WebP file (the name
and the declared type are ignored), it is at most MAX_BYTES and MAX_PIXELS, and it decodes
completely. What is stored is never the upload: the pixels are re-encoded into a new file
(JPEG, or PNG when the image has transparency), which drops EXIF (GPS position, device),
comments, ICC profiles and anything appended to the file (polyglots), under a random name.
Files live in MEDIA_ROOT, which no URL serves; `serve_photo` answers them after the
case-level check, with a fixed image type, nosniff and an attachment disposition.

Decoding happens before the service opens its transaction, so a slow or hostile image never
holds a database lock.
"""

import io
import secrets
import warnings

from django.core.files.base import ContentFile
from django.http import FileResponse
from django.urls import reverse
from PIL import Image, ImageOps, UnidentifiedImageError

from gridgov.errors import InvalidInput, NotFound

MAX_PHOTOS = 9
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 48-megapixel phone photo is refused; 40 MP decodes in ~160 MB
DECODERS = ["JPEG", "PNG", "WEBP"]  # the JPEG decoder also opens MPO, the JPEG of phones with several cameras
JPEG_QUALITY = 85
CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png"}


def sniff(head: bytes) -> str | None:
    """The format the magic bytes announce, or None."""
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _refuse(message_zh: str, message_en: str, reason: str, name: str):
    raise InvalidInput(message_zh, message_en, details={"field": "photos", "reason": reason, "name": str(name)[:100]})


def sanitize(upload) -> ContentFile:
    """Check one upload and return its re-encoded copy; InvalidInput (422) if it is not a safe photo."""
    name = getattr(upload, "name", None) or "照片"
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_BYTES:
        _refuse(f"照片“{name}”超过10MB", f"Photo {name} exceeds 10 MB", "too_large", name)
    upload.seek(0)
    data = upload.read(MAX_BYTES + 1)
    upload.seek(0)
    if len(data) > MAX_BYTES:
        _refuse(f"照片“{name}”超过10MB", f"Photo {name} exceeds 10 MB", "too_large", name)
    if sniff(data[:16]) is None:
        _refuse(f"文件“{name}”不是JPEG、PNG或WebP图片", f"{name} is not a JPEG, PNG or WebP image", "not_an_image", name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=DECODERS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise Image.DecompressionBombError(f"{width}x{height}")
                image.load()  # a full decode: truncated or corrupt data fails here
                image = ImageOps.exif_transpose(image)  # keep the photo upright once EXIF is gone
                clean = _reencode(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        _refuse(f"照片“{name}”像素过多（上限{MAX_PIXELS // 1_000_000}百万像素）",
                f"Photo {name} has too many pixels (max {MAX_PIXELS:,})", "too_many_pixels", name)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, MemoryError):
        _refuse(f"文件“{name}”不是有效的图片", f"{name} is not a valid image", "not_an_image", name)
    return clean


def _stored(data: bytes, extension: str) -> ContentFile:
    """A re-encoded photo ready for a FileField, under a random name (nothing of the upload's name)."""
    return ContentFile(data, name=f"{secrets.token_hex(16)}{extension}")


def _reencode(image: Image.Image) -> ContentFile:
    alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    mode = "RGBA" if alpha else "RGB"
    pixels = image.convert(mode)
    # A new image from the raw pixels carries no metadata at all (info, EXIF, XMP, ICC, text).
    fresh = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if alpha:
        fresh.save(out, "PNG", optimize=False)
        return _stored(out.getvalue(), ".png")
    fresh.save(out, "JPEG", quality=JPEG_QUALITY)
    return _stored(out.getvalue(), ".jpg")


def validate_photos(photos) -> list:
    """Return sanitised copies of the photos (re-encoded, random names); refuse any that is not a safe photo."""
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(f"最多上传{MAX_PHOTOS}张照片", f"At most {MAX_PHOTOS} photos", details={"field": "photos"})
    return [sanitize(photo) for photo in photos]


# --- serving -----------------------------------------------------------------------------


def photo_url(request, case, photo) -> str:
    """The only address of a photo: the authorised view."""
    return request.build_absolute_uri(reverse("api:case_photo", kwargs={"number": case.number, "photo_id": photo.pk}))


def serve_photo(case, photo_id: int) -> FileResponse:
    """The photo of a case the caller may already see (the caller looked the case up through
    `Case.objects.restrict`); any other id is 404."""
    photo = case.photos.filter(pk=photo_id).first()
    if photo is None or not photo.image:
        raise NotFound("照片不存在", "Photo not found")
    extension = "." + photo.image.name.rsplit(".", 1)[-1].lower() if "." in photo.image.name else ""
    content_type = CONTENT_TYPES.get(extension)
    if content_type is None:  # stored before re-encoding existed: never served as anything but bytes
        content_type = "application/octet-stream"
    try:
        handle = photo.image.open("rb")
    except FileNotFoundError:
        raise NotFound("照片不存在", "Photo not found") from None
    response = FileResponse(handle, content_type=content_type, as_attachment=False,
                            filename=f"{case.number}-{photo.pk}{extension}")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
