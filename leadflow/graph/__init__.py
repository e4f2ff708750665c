"""The CRM graph in Neo4j: the model (model.py: Cypher statements, row shaping, retry policy; no
I/O), the sync engine and the graph queries (sync.py: reads PostgreSQL, writes over Bolt), the
`crm_graph` asset and its reconciliation check (assets.py)."""
