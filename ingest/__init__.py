"""MQTT -> InfluxDB ingest: validate, batch, write, acknowledge after the write, dead-letter the rest."""
