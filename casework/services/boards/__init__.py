"""Kanban boards: the columns each role sees (`layout`), what is in them and the ETag (`reading`),
and acting from a card or in bulk (`actions`). Views and tests use this package's names."""
from casework.services.boards.actions import (
    BulkResult, fire_to, move_event, parse_picks, sign_many, urge_many,
)
from casework.services.boards.layout import (
    COLUMNS, ETAG_BUCKET_SECONDS, MOVES, PAGE_SIZE, RECENT_DAYS, TITLES, Column, Move, MoveOption, column, column_label,
    columns_for, moves_for,
)
from casework.services.boards.reading import (
    MAX_PAGES, Board, CardCase, CardView, ColumnView, Names, card_view, column_of, etag,
    filter_options, load_board, load_column_page, parse_pages,
)

__all__ = [
    "BulkResult", "fire_to", "move_event", "parse_picks", "sign_many", "urge_many",
    "COLUMNS", "ETAG_BUCKET_SECONDS", "MOVES", "PAGE_SIZE", "RECENT_DAYS", "TITLES", "Column", "Move", "column",
    "column_label", "columns_for", "moves_for",
    "MAX_PAGES", "Board", "CardCase", "CardView", "ColumnView", "MoveOption", "Names", "card_view",
    "column_of", "etag", "filter_options", "load_board", "load_column_page", "parse_pages",
]
