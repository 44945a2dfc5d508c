"""The grid tree: subdistrict → community → grid → building."""
from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db


class Subdistrict(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    communities: Mapped[list[Community]] = relationship(back_populates="subdistrict", order_by="Community.id")


class Community(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    subdistrict_id: Mapped[int] = mapped_column(ForeignKey("subdistrict.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # Structure rows are keyed by codes (imports match on them); NULL only for rows made before codes.
    code: Mapped[str | None] = mapped_column(String(20), unique=True)
    # Nothing a case refers to is deleted: rows are deactivated instead.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Bumped by every admin change; an edit carries the version it saw (stale → 409).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    subdistrict: Mapped[Subdistrict] = relationship(back_populates="communities")
    grids: Mapped[list[Grid]] = relationship(back_populates="community", order_by="Grid.id")

    def __str__(self) -> str:
        return self.name


class Grid(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    community: Mapped[Community] = relationship(back_populates="grids")
    buildings: Mapped[list[Building]] = relationship(back_populates="grid", order_by="Building.id")

    def __str__(self) -> str:
        return self.name


class Building(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(200), default="")
    code: Mapped[str | None] = mapped_column(String(30), unique=True)
    units: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # WGS-84 position, when known: Open311 callers may locate a case by lat/long (nearest building).
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Each building is served by exactly one property company.
    property_company_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    grid: Mapped[Grid] = relationship(back_populates="buildings")
    property_company: Mapped["Organisation | None"] = relationship()  # noqa: F821

    def __str__(self) -> str:
        return self.name
