"""The registry of places, devices and people (一网一码): what every server part looks names and audiences up in.

    types.py      node levels and their parents, contact roles, household flags
    tables.py     places (street -> community -> grid -> building -> household; river stations,
                  camera zones), devices (wire ids) bound to places, contacts, the revision
    model.py      the immutable snapshot the engine, console and dashboards work from: ancestors,
                  locations, audiences, camera zones; load, revision, away mode
    csvio.py      CSV import (every bad row reported by row and column) and export
    scenario.py   a simulator scenario's community as registry rows: the one bridge from a scenario
                  to a registry (the simulator object is handed in; the registry never imports it)
    commands.py   `shouwang registry import | import-scenario | export`
Names, addresses and channel URLs are personal data: they live only in these tables and in
notifications; rules, topics, InfluxDB tags and logs use codes and device ids.
"""
