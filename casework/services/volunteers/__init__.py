"""Volunteers: registration and teams (registry), activities and attendance (activities), the
append-only hours and points ledgers (ledger), and gift redemption (redemption).

Every function takes the acting staff user (or None for the volunteer themself) as an argument,
flushes, and leaves the commit to the caller.
"""
