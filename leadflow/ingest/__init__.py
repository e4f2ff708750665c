"""Lead file import: read (reading.py), normalize (normalize.py), dedupe (dedupe.py), screen and
load (sql.py), orchestrated by stages.py for the assets, `leadflow import` and the benchmark."""
