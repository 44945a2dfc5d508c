"""Notices that reach people's phones: the outbox (outbox.py), who gets what (routing.py), what it
says (content.py), one small class per channel (channels/), digests (digest.py) and the worker
behind `flask --app wsgi casework deliver` (worker.py). Views never send anything."""
