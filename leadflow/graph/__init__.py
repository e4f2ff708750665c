"""The CRM graph in Neo4j: Cypher and row shaping (cypher.py), the sync engine (sync.py), the
`crm_graph` asset and its reconciliation check (assets.py)."""
