"""GeoReport v2 documents in XML (required by the spec) and JSON: the same dicts, two shapes.

XML: a declaration, then the spec's wrappers (`<services><service>`, `<service_requests><request>`,
`<errors><error>`); lists inside an element are wrapped by their plural name with singular children
(`<attributes><attribute>`, `<values><value>`, `<endpoints><endpoint>`, `<formats><format>`);
None is an empty element and booleans are `true`/`false`. JSON: arrays for the list documents.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from flask import Response

CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
SINGULAR = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            _fill(ET.SubElement(element, name), inner)
    elif isinstance(value, list):
        child = SINGULAR.get(element.tag, "item")
        for inner in value:
            _fill(ET.SubElement(element, child), inner)
    else:
        element.text = _text(value)


def xml_document(root: str, value, item: str | None = None) -> bytes:
    """`value` under `<root>`; a list becomes one `<item>` per entry."""
    element = ET.Element(root)
    if item is not None:
        for entry in value:
            _fill(ET.SubElement(element, item), entry)
    else:
        _fill(element, value)
    body = ET.tostring(element, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def respond(fmt: str, root: str, value, item: str | None = None, status: int = 200) -> Response:
    """The document in the asked format with the spec's content type."""
    if fmt == "json":
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    else:
        body = xml_document(root, value, item)
    return Response(body, status=status, content_type=CONTENT_TYPES.get(fmt, CONTENT_TYPES["xml"]))


def errors(fmt: str, status: int, description: str) -> Response:
    """GeoReport's error list: the HTTP status is also the error code, as in the spec's examples."""
    return respond(fmt, "errors", [{"code": status, "description": description}], "error", status)
