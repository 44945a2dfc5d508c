"""Errors a service raises for the view to show: each carries an HTTP status and a readable message."""
from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, message, errors: dict | None = None):
        super().__init__(str(message))
        self.message = message
        self.errors = errors or {}


class NotFound(ServiceError):
    status = 404


class Refused(ServiceError):
    """The workflow or the policy does not allow this now."""

    status = 409


class Stale(Refused):
    """Someone else changed the case after the user loaded it."""


class Invalid(ServiceError):
    """The input is wrong; `errors` maps field names to messages shown next to the fields."""

    status = 422
