"""Reliability tests: real servers, PgBouncer, failures, restarts, cancellations and leaks."""
