"""Open311 GeoReport v2: the API blueprint, its XML/JSON rendering, the key admin page and CLI."""
