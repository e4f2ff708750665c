"""Orchestration: the nightly job and its schedule, and failure alerts for every run."""
