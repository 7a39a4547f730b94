"""Simulated devices for technicians and tests: scenarios, device models, virtual clock,
MQTT publishing as gateways, record/replay and fault injection (docs/simulator.md).

    scenario/   scenario files (TOML): schema, loader with file:line errors, expanded community
    models/     device models: water meter (household routines), call button, river gauge, camera
    generate    the deterministic, time-ordered message stream of a scenario window
    labels      ground-truth labels of incidents (JSONL) for alert evaluation
    clock       virtual clocks: real time, sped up, as fast as possible
    faults      drop / duplicate / reorder / delay / corrupt / clock skew / gateway outage
    mqtt        publishing as gateways (paho, one client per gateway, QoS 1, birth and last will)
    recordfile  the record file format (gzip JSONL); record and replay
    runner      drives a stream through faults, clock and a sink, with progress and a summary
    serial/     serial devices on ptys (CJ/T 188 meters, Modbus gauges, call-button receivers)
"""
