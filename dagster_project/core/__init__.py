"""Pure logic (no I/O to databases, no Dagster): phones, cleaning, dedupe, scoring, segments."""
