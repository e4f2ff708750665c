"""Lead file import: the stages behind the ingest assets, `leadflow import` and the bench."""
