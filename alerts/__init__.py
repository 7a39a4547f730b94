"""Alerts: rules engine, alert lifecycle, escalation (places and people: registry/).

    types.py                  severities, states, outcomes, rules; the rule actions Raise, Clear, Cancel
    tables.py, store.py       alerts, episodes, audit trail, deliveries, time-to-acknowledge/resolve, over
                              the shared SQL database (storage/sql.py); queries by a reader's scope
    lifecycle.py, escalation.py  one active alert per (rule, subject), transitions, ladders
    actions.py                the one path of people's changes (console, ack links, CLI): store,
                              audit, the engine's sinks
    manager.py, sinks.py      applies rule actions, notifies, escalates; InfluxDB `alert` points and
                              sw/alerts/... events
    notifier.py               the notifier seam (Notification, Notifier, what the service hosts); its
                              implementations, channels, texts and ack links are in notify/, a floor
                              above: nothing here imports notify/, the top hands the service its notifier
    rules/                    button, health, river, water (inactivity, flow), camera
    engine.py, service.py     rules + lifecycle driven by an injected clock; MQTT service
    rebuild.py                state restored from InfluxDB and the store on start
    commands.py               `shouwang alerts ...`
The evaluation against a simulator scenario (`shouwang evaluate`) is evaluation/, above both.
"""
