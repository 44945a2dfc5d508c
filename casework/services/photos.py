"""Photos: accept only real JPEG/PNG/WebP images, re-encode them (no EXIF/GPS, capped size) and
keep them outside static/ under random names, each with a small JPEG thumbnail.

Nothing is trusted from the upload but its bytes: not the file name, not the browser's content
type. Every image is decoded and drawn onto a fresh canvas, so no metadata (EXIF with GPS, XMP,
comments, ICC profiles) survives into the stored copy.
"""
from __future__ import annotations

import io
import logging
import os
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from casework import access
from casework.extensions import db
from casework.models import Attachment, Case, User
from casework.services.errors import Invalid, Refused, ServiceError

log = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024          # per photo, as uploaded
MAX_PHOTOS = 3                       # per report
MAX_AFTER_PHOTOS = 6                 # per case, added by the handler
MAX_SIDE = 4096                      # the stored copy fits in this square
# Refuse to decode anything bigger (decompression bombs, and memory): 2500 万 pixels is a 24 MP
# camera's full picture. What one upload can cost is bounded by this: the decoded source at most
# 25 M × 4 bytes = 100 MB (a JPEG is decoded at a reduced scale, so far less), then it is reduced
# at once to fit MAX_SIDE and every later copy is of the reduced picture (≤ 4096² × 4 = 64 MB).
MAX_SOURCE_PIXELS = 25_000_000
THUMB_SIDE = 320
FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"), "WEBP": ("image/webp", ".webp")}
FORMATS_EXT = dict(FORMATS.values())  # content type -> file name extension


class PhotoTooLarge(ServiceError):
    """A photo over the size limit: answered with 413 and the message next to the field."""

    status = 413


@dataclass
class Photo:
    """A cleaned photo, ready to be written: the re-encoded bytes and a thumbnail."""

    data: bytes
    thumb: bytes
    content_type: str
    ext: str
    width: int
    height: int


def uploaded_files(files) -> list:
    """The non-empty file inputs of a form (a browser sends an empty part when none is chosen)."""
    return [f for f in files if f is not None and (f.filename or "").strip()]


def read_limited(upload, field: str = "photos") -> bytes:
    """The upload's bytes, refusing (413) more than MAX_BYTES without reading the rest."""
    data = upload.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise PhotoTooLarge(_l("照片太大：每张不能超过 5 MB。"),
                            {field: _l("照片“%(name)s”超过 5 MB，请压缩后再上传。", name=_short(upload.filename))})
    return data


def _short(name: str | None) -> str:
    name = os.path.basename(name or "")
    return name if len(name) <= 40 else name[:37] + "…"


def clean_image(data: bytes, field: str = "photos", name: str = "") -> Photo:
    """Decode, check and re-encode one image; raise Invalid if it is not a JPEG, PNG or WebP photo."""
    bad = Invalid(_l("请检查上传的照片。"),
                  {field: _l("“%(name)s”不是有效的 JPG、PNG 或 WebP 图片。", name=_short(name) or "?")})
    if not data:
        raise bad
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: treat it as a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                if fmt not in FORMATS:
                    raise bad
                if probe.width * probe.height > MAX_SOURCE_PIXELS:
                    raise Invalid(_l("请检查上传的照片。"), {field: _l(
                        "照片像素过大（%(have)s 万像素），上限为 %(limit)s 万像素，请缩小后再上传。",
                        have=probe.width * probe.height // 10_000, limit=MAX_SOURCE_PIXELS // 10_000)})
                probe.verify()
            with Image.open(io.BytesIO(data)) as img:
                if fmt == "JPEG":
                    img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode big JPEGs at a reduced scale
                img.seek(0)  # animated WebP/PNG: the first frame only
                img.load()
                img = _reduced(img)  # from here on every copy is of the reduced picture
                img = ImageOps.exif_transpose(img)  # keep the photo upright once EXIF is gone
                canvas = _fresh_canvas(img)
    except Invalid:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning,
            OSError, SyntaxError, ValueError, EOFError) as exc:
        log.info("photo refused: %s", exc.__class__.__name__)
        raise bad from exc
    canvas.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    content_type, ext = FORMATS[fmt]
    out = io.BytesIO()
    if fmt == "JPEG":
        canvas.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
    elif fmt == "PNG":
        canvas.save(out, "PNG", optimize=True)
    else:
        canvas.save(out, "WEBP", quality=85)
    return Photo(data=out.getvalue(), thumb=_thumbnail(canvas), content_type=content_type, ext=ext,
                 width=canvas.width, height=canvas.height)


def _reduced(img: Image.Image) -> Image.Image:
    """The decoded picture shrunk by a whole factor (cheap, box filter) until it fits 2 × MAX_SIDE."""
    factor = 1
    while max(img.width, img.height) // factor > 2 * MAX_SIDE:
        factor += 1
    if factor == 1:
        return img
    if img.mode not in ("RGB", "RGBA", "L", "LA", "I", "F"):
        img = img.convert("RGBA" if "transparency" in img.info or img.mode in ("PA", "P") else "RGB")
    return img.reduce(factor)


def _fresh_canvas(img: Image.Image) -> Image.Image:
    """The pixels alone on a new image: no info dict, no EXIF, no ICC, no text chunks."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    mode = "RGBA" if has_alpha else "RGB"
    pixels = img.convert(mode)
    canvas = Image.new(mode, pixels.size)
    canvas.paste(pixels)
    return canvas


def _thumbnail(img: Image.Image) -> bytes:
    """A small JPEG for lists (transparency flattened onto white)."""
    thumb = img.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    if thumb.mode == "RGBA":
        flat = Image.new("RGB", thumb.size, (255, 255, 255))
        flat.paste(thumb, mask=thumb.getchannel("A"))
        thumb = flat
    out = io.BytesIO()
    thumb.convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def prepare(uploads: list, field: str = "photos", limit: int = MAX_PHOTOS) -> list[Photo]:
    """Check and clean every upload before anything is written, so a bad one leaves no trace."""
    if len(uploads) > limit:
        raise Invalid(_l("请检查上传的照片。"), {field: _l("最多上传 %(n)d 张照片。", n=limit)})
    return [clean_image(read_limited(u, field), field, u.filename) for u in uploads]


# Storage ---------------------------------------------------------------------------------------

def _folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def path_of(stored_name: str, thumb: bool = False) -> Path:
    """Where a stored photo (or its thumbnail) lives: sharded by the name's first two characters."""
    stem = stored_name.rsplit(".", 1)[0]
    name = f"{stem}.thumb.jpg" if thumb else stored_name
    return _folder() / stored_name[:2] / name


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:  # never overwrite: names are random and unique
        fh.write(data)


def remove_files(names: list[str]) -> None:
    """Delete stored photos and thumbnails (used when the database write that owns them fails)."""
    _unlink([path_of(name, thumb) for name in names for thumb in (False, True)])


def _unlink(paths: list[Path]) -> None:
    """Delete files; one already gone is fine, and one that cannot go is logged, not raised
    (this runs inside commit and rollback, where an exception would hide the real outcome)."""
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not delete %s: %s", path.name, exc)


# Files follow the transaction ------------------------------------------------------------------
# A photo is two things, a file and a row, and only the row is transactional. So the session
# remembers, per transaction, the files written in it (deleted unless it commits) and the files
# of rows deleted in it (deleted only once it commits): a failed or rolled-back request leaves no
# orphaned file, and a failed purge leaves no row pointing at a missing one.

_FILES_KEY = "casework.photo_files"


@dataclass
class _PendingFiles:
    written: list[Path] = field(default_factory=list)  # delete unless the transaction commits
    erased: list[Path] = field(default_factory=list)   # delete once the transaction commits


def _pending_files() -> _PendingFiles:
    """The bookkeeping of the innermost transaction (a SAVEPOINT if one is open) of this request's session."""
    session = db.session()
    tx = session.get_nested_transaction() or session.get_transaction() or session.begin()
    return session.info.setdefault(_FILES_KEY, {}).setdefault(tx, _PendingFiles())


def _files_of(name: str) -> list[Path]:
    return [path_of(name), path_of(name, thumb=True)]


def delete_after_commit(names: list[str]) -> None:
    """Delete these photos' files once the transaction that deletes their rows commits."""
    _pending_files().erased.extend(p for name in names for p in _files_of(name))


@event.listens_for(Session, "after_commit")
def _files_after_commit(session: Session) -> None:
    """A SAVEPOINT hands its files to the enclosing transaction; the outermost one keeps or deletes them."""
    pending_by_tx = session.info.get(_FILES_KEY)
    if not pending_by_tx:
        return
    tx = session.get_nested_transaction() or session.get_transaction()  # the one committing
    pending = pending_by_tx.pop(tx, None)
    if pending is None:
        return
    parent = tx.parent
    while parent is not None and not (parent.nested or parent.parent is None):
        parent = parent.parent  # skip flush-only subtransactions
    if parent is not None:
        outer = pending_by_tx.setdefault(parent, _PendingFiles())
        outer.written += pending.written
        outer.erased += pending.erased
    else:
        _unlink(pending.erased)


@event.listens_for(Session, "after_transaction_end")
def _files_after_transaction_end(session: Session, tx: SessionTransaction) -> None:
    """A transaction that ends without committing (rollback, failed commit, session closed): its new files go."""
    pending_by_tx = session.info.get(_FILES_KEY)
    pending = pending_by_tx.pop(tx, None) if pending_by_tx else None
    if pending is not None:
        _unlink(pending.written)
        if pending.written:
            log.info("transaction not committed: %d photo file(s) removed", len(pending.written))


def attach(case: Case, photos: list[Photo], *, stage: str, uploaded_by: User | None) -> list[Attachment]:
    """Write the cleaned photos under random names and add their rows to the case.

    The files are tied to the current transaction: if it does not commit, they are deleted.
    """
    rows, written = [], []
    pending = _pending_files()
    try:
        for photo in photos:
            name = secrets.token_hex(16) + photo.ext
            _write(path_of(name), photo.data)
            written.append(name)
            pending.written.extend(_files_of(name))
            _write(path_of(name, thumb=True), photo.thumb)
            row = Attachment(case=case, stored_name=name, content_type=photo.content_type, stage=stage,
                             width=photo.width, height=photo.height, size=len(photo.data),
                             uploaded_by_id=uploaded_by.id if uploaded_by else None)
            db.session.add(row)
            rows.append(row)
        db.session.flush()
    except Exception:
        remove_files(written)
        raise
    log.info("case %s: %d %s photo(s) stored", case.number, len(rows), stage)
    return rows


def add_after_photos(actor: User, case: Case, uploads: list) -> list[Attachment]:
    """A handler adds photos of the finished work; the resident sees them on the tracking page."""
    if not access.may_add_after_photo(actor, case):
        raise Refused(_l("只有承办单位可以在办理中或待回访时上传完工照片。"))
    if not uploads:
        raise Invalid(_l("请检查上传的照片。"), {"photos": _l("请选择要上传的照片。")})
    room = MAX_AFTER_PHOTOS - sum(1 for a in case.attachments if a.stage == "after")
    if room <= 0:
        raise Invalid(_l("请检查上传的照片。"), {"photos": _l("完工照片最多 %(n)d 张。", n=MAX_AFTER_PHOTOS)})
    return attach(case, prepare(uploads, limit=room), stage="after", uploaded_by=actor)
