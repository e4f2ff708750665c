"""The local platform: embedded servers, the migration runner and the seed loader.

Used by `leadflow local up|down|status|env` and `leadflow db migrate|seed`, `make demo` and the tests. The product
(assets, resources, jobs) never imports this package and never starts a server: it reads
POSTGRES_URL, NEO4J_URI and MONGO_URL (see leadflow/resources.py).
"""
