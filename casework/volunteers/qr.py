"""A QR code (SVG) of an address, shared by the card page and the activity's check-in QR."""
from __future__ import annotations

import io

import segno
from flask import make_response


def qr_svg(target: str):
    """An SVG response holding a QR code of `target`."""
    buf = io.BytesIO()
    segno.make(target, error="m").save(buf, kind="svg", scale=5, border=2, xmldecl=False, dark="#163d6b")
    response = make_response(buf.getvalue())
    response.headers["Content-Type"] = "image/svg+xml"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response
