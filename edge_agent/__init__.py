"""Edge agent (`shouwang agent`): the gateway daemon of a building. It reads meters, river gauges and call
buttons, keeps every message in a durable outbox and sends it to the central broker (docs/edge_agent.md).

    config.py      the agent's own TOML file (msgspec: no pydantic, the agent stays under 40 MB RSS)
    drivers/       CJ/T 188 water meters, Modbus RTU river gauges, call-button receivers, a gateway-local MQTT input
    emit.py        a driver's values -> a contract v1 message (wire.encode) -> the outbox
    outbox.py      SQLite WAL queue: durability, bounds, shedding policy, per-device seq
    uplink.py      MQTT uplink: persistent session, birth and last will, drain pacing, TLS
    supervisor.py  one thread per driver; a dead driver is restarted with backoff
    health.py      CPU, memory, temperature; the gateway's status messages
    clock.py       wall time (the project's clock, ground/clock.py) and monotonic time, injectable
    service.py     the Agent: wires it all together, health reports, systemd notify and watchdog
"""
