"""An authorised agent's written authority: a real PDF or image, stored under a random name.

A file is accepted only if it opens as what its first bytes claim (a PDF whose pages can
be read, a PNG or JPEG that decodes): a file that merely starts with "%PDF-" can be
anything. It is stored under a random name with the extension of what it is, so neither
the uploader's file name (which may itself be personal: "passport-jane-smith.pdf") nor a
guessable path is kept. Staff open it through an access-checked admin view only.
"""

from __future__ import annotations

import io
import secrets

from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

MAX_AUTHORITY_BYTES = 10 * 1024 * 1024
# What a written authority may be, recognised by its first bytes, then opened to be sure.
SIGNATURES = {b"%PDF-": "pdf", b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}
CONTENT_TYPES = {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg"}


def check_authority(upload) -> str:
    """The kind of file (``pdf``, ``png`` or ``jpg``); ValidationError naming the problem
    when it is too large or does not open as one of them."""
    if upload.size > MAX_AUTHORITY_BYTES:
        raise ValidationError(
            f"The file is {filesizeformat(upload.size)}; the limit is {filesizeformat(MAX_AUTHORITY_BYTES)}. "
            "Scan it at a lower resolution or send a PDF."
        )
    upload.seek(0)
    content = upload.read()
    upload.seek(0)
    kind = next((kind for signature, kind in SIGNATURES.items() if content.startswith(signature)), None)
    if kind is None:
        raise ValidationError("The written authority must be a PDF, PNG or JPEG file; this file is none of them.")
    try:
        if kind == "pdf":
            if not PdfReader(io.BytesIO(content), strict=False).pages:
                raise ValueError("no pages")
        else:
            with Image.open(io.BytesIO(content)) as image:
                image.verify()
    except (PyPdfError, UnidentifiedImageError, ValueError, OSError, SyntaxError):
        raise ValidationError(
            f"The file starts like a {kind.upper()} but does not open as one: send the signed authority again, "
            "saved or scanned as a PDF, PNG or JPEG."
        ) from None
    return kind


def stored_name(kind: str) -> str:
    """A random name, with the extension of what the file is."""
    return f"{secrets.token_hex(16)}.{kind}"
