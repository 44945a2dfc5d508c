"""Reading the residents' forms: plain values, trimmed and capped, so a bad one can be shown back as typed.

The rules (what is required, what a mobile number looks like) live in services.residents; this
module only turns a posted form into values of the right type.
"""
from __future__ import annotations

from werkzeug.datastructures import MultiDict

from casework.numbers import as_int

# Longest text kept when re-showing a form: generous, the service reports anything too long.
_KEEP = {"unit": 200, "description": 4000, "reporter_name": 200, "reporter_phone": 40, "q": 40,
         "note": 1000, "comment": 1000}


def _int(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return as_int(raw)


def _text(form: MultiDict, name: str) -> str:
    return (form.get(name) or "").strip()[: _KEEP.get(name, 200)]


def report_values(form: MultiDict) -> dict:
    """The report form's fields as typed values."""
    return {
        "community_id": _int(form.get("community_id")),
        "building_id": _int(form.get("building_id")),
        "category_id": _int(form.get("category_id")),
        "unit": _text(form, "unit"),
        "description": _text(form, "description"),
        "reporter_name": _text(form, "reporter_name"),
        "reporter_phone": _text(form, "reporter_phone"),
        "consent": form.get("consent") in ("1", "on", "yes", "y"),
        "sms_consent": form.get("sms_consent") in ("1", "on", "yes", "y"),
    }


def confirm_values(form: MultiDict) -> dict:
    """The tracking page's "it is fixed" form: a rating and an optional comment."""
    return {"satisfaction": (form.get("satisfaction") or "").strip()[:30], "comment": _text(form, "comment"),
            "version": _int(form.get("version"))}


def not_fixed_values(form: MultiDict) -> dict:
    """The tracking page's "not fixed" form: what is still wrong."""
    return {"note": _text(form, "note"), "version": _int(form.get("version"))}
