"""Database plumbing: migration runner, seed loader, COPY/upsert loaders, SQL helpers."""
