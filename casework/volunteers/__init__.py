"""Volunteers: the public registration, card and check-in pages (public.py) and staff screens (staff.py)."""
