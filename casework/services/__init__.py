"""Services: the only code that changes state. Each takes the actor and flushes; the request commits."""
