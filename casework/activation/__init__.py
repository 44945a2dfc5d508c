"""Account activation: a new user sets their own password with a one-time code."""
