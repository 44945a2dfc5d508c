"""The bare reference apps the board's HTTP figures are compared with (docs/benchmarks.md).

Two pages, served by the same gunicorn settings as Casework so the ratios mean something:

- `GET /bare`: Flask returning a 2 KB string (the framework's floor: routing, WSGI, gunicorn);
- `GET /rows`: Flask + Flask-SQLAlchemy + Jinja, 200 rows of a 10,000-row SQLite table (newest
  first in one of 5 categories, on an index) rendered as an HTML table: the cheapest "real" page.

    .venv/bin/gunicorn -w 2 -b 127.0.0.1:5101 --chdir bench/reference app:app
    wrk -t2 -c8 -d20s http://127.0.0.1:5101/bare

The database (REFERENCE_DB, default /tmp/casework-reference.db) is generated with a fixed seed on
first start.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import os
import random

from flask import Flask, render_template, request
from jinja2 import DictLoader
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Index, Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PATH = os.environ.get("REFERENCE_DB", "/tmp/casework-reference.db")
ROWS = 10_000
BARE = ("x" * 63 + "\n") * 32  # 2,048 bytes


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Item(db.Model):
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(100))
    place: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    __table_args__ = (Index("ix_item_category_created", "category", "created_at"),)


PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><table><thead><tr><th>#</th><th>标题</th><th>地点</th><th>状态</th><th>时间</th></tr></thead>
<tbody>{% for item in items %}<tr id="item-{{ item.id }}"><td>{{ item.id }}</td><td><a href="/items/{{ item.id }}">{{ item.title }}</a></td>
<td>{{ item.place }}</td><td>{{ item.status }}</td><td>{{ item.created_at.strftime('%Y-%m-%d %H:%M') }}</td></tr>{% endfor %}
</tbody></table><p>{{ items|length }} / {{ total }}</p></body></html>"""


def create_app() -> Flask:
    app = Flask(__name__)
    app.jinja_loader = DictLoader({"rows.html": PAGE})  # compiled once, like a template file
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{PATH}"
    db.init_app(app)
    with app.app_context(), open(PATH + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # gunicorn's workers start together: one generates the rows
        db.create_all()
        if not db.session.scalar(select(func.count()).select_from(Item)):
            rng = random.Random(14)
            start = dt.datetime(2026, 1, 1)
            db.session.add_all(Item(category=i % 5, title=f"楼道灯不亮 {i}", place=f"{rng.randint(1, 40)}幢{rng.randint(1, 6)}单元",
                                    status=rng.choice(["reported", "handling", "closed"]),
                                    created_at=start + dt.timedelta(minutes=37 * i)) for i in range(ROWS))
            db.session.commit()

    @app.get("/bare")
    def bare():
        return BARE

    @app.get("/rows")
    def rows():
        category = request.args.get("category", 2, type=int)
        items = db.session.scalars(select(Item).where(Item.category == category)
                                   .order_by(Item.created_at.desc()).limit(200)).all()
        total = db.session.scalar(select(func.count()).select_from(Item))
        return render_template("rows.html", title="最新 200 条", items=items, total=total)

    return app


app = create_app()
