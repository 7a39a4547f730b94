"""Storage every part may use: the InfluxDB client (v1-compatible /write and /query), its config
section, the measurement names, and the one place line protocol and InfluxQL literals are escaped;
the shared SQL database (sql.py: engine, sessions, the declarative base every part's tables use,
and migrations/, the one Alembic history of that database)."""
