"""Alerts: registry of people and places, rules engine, alert lifecycle, escalation, evaluation.

    registry.py, csvio.py     street -> community -> grid -> building -> household, devices,
                              river stations, camera zones, contacts; CSV import/export
    tables.py, db.py,         SQLAlchemy 2.x store (SQLite default, PostgreSQL by URL),
    migrations/               Alembic migrations
    store.py                  alerts, audit trail, deliveries, time-to-acknowledge/resolve
    lifecycle.py, escalation.py  one active alert per (rule, subject), transitions, ladders
    notify.py, sinks.py       notifier seam; InfluxDB `alert` points and sw/alerts/... events
    rules/                    button, health, river, water (inactivity, flow), camera
    engine.py, service.py     rules + lifecycle driven by an injected clock; MQTT service
    rebuild.py                state restored from InfluxDB and the store on start
    evaluate.py               a simulator scenario against its ground-truth labels
"""
