"""Storage every part may use: the InfluxDB client (v1-compatible /write and /query), its config
section, the measurement names, and the one place line protocol and InfluxQL literals are escaped."""
