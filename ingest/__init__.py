"""MQTT -> InfluxDB ingest: validate, batch, write, acknowledge after the write, dead-letter the rest.

    pipeline.py   pure: topic + payload + arrival time + limits -> a point line or a dead letter
    lineproto.py  line protocol of contract messages, gateway presence and dead letters
    writer.py     batches to InfluxDB through the LineStore seam: retries, bisection around refused points
    service.py    the worker: the durable consumer (broker_config/consumer.py), batching, acks after the write
    metrics.py    Prometheus counters and gauges
    settings.py   the [ingest] config section
"""
