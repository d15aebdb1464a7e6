"""Checking uploaded photos before anything is written."""

from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

from gridgov.errors import InvalidInput

MAX_PHOTOS = 9
MAX_BYTES = 10 * 1024 * 1024
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "HEIF", "MPO"}


def validate_photos(photos) -> list:
    """Return the photos if each is a real image of an accepted format and size; else refuse."""
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(f"最多上传{MAX_PHOTOS}张照片", f"At most {MAX_PHOTOS} photos", details={"field": "photos"})
    for photo in photos:
        name = getattr(photo, "name", "照片")
        size = getattr(photo, "size", None)
        if size is not None and size > MAX_BYTES:
            raise InvalidInput(f"照片“{name}”超过10MB", f"Photo {name} exceeds 10 MB", details={"field": "photos"})
        try:
            photo.seek(0)
            with Image.open(photo) as image:
                fmt = image.format
                image.verify()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise InvalidInput(f"文件“{name}”不是有效的图片", f"{name} is not a valid image", details={"field": "photos"}) from None
        finally:
            if isinstance(photo, UploadedFile) or hasattr(photo, "seek"):
                photo.seek(0)
        if fmt not in ALLOWED_FORMATS:
            raise InvalidInput(f"不支持的图片格式：{fmt}", f"Unsupported image format {fmt}", details={"field": "photos"})
    return photos
