"""The grid tree: subdistrict → community → grid → building."""
from __future__ import annotations

from sqlalchemy import Float, ForeignKey, String
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
    subdistrict: Mapped[Subdistrict] = relationship(back_populates="communities")
    grids: Mapped[list[Grid]] = relationship(back_populates="community", order_by="Grid.id")

    def __str__(self) -> str:
        return self.name


class Grid(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    community: Mapped[Community] = relationship(back_populates="grids")
    buildings: Mapped[list[Building]] = relationship(back_populates="grid", order_by="Building.id")

    def __str__(self) -> str:
        return self.name


class Building(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(200), default="")
    # Each building is served by exactly one property company.
    property_company_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    # WGS-84 position, when known: Open311 callers may locate a case by lat/long (nearest building).
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    grid: Mapped[Grid] = relationship(back_populates="buildings")
    property_company: Mapped["Organisation | None"] = relationship()  # noqa: F821

    def __str__(self) -> str:
        return self.name
