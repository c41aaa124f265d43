"""QR codes of links, as SVG or PNG (segno: pure Python, no Pillow)."""

from __future__ import annotations

import io

import segno

MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


def qr_code(url: str, kind: str = "svg", *, scale: int = 10) -> bytes:
    """The QR code of a URL (error correction M: survives a worn sticker)."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    if kind == "svg":
        code.save(out, kind="svg", scale=scale, border=4, xmldecl=False, svgns=True)
    else:
        code.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
