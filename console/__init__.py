"""Web API and staff console (FastAPI): `shouwang api`, started by `shouwang up` too.

    app.py          the FastAPI application, its context and lifespan (MQTT follower, sinks)
    auth.py         Argon2id passwords, sessions (cookie or bearer token), login rate limit
    scope.py        roles and what each user may see and do in the grid hierarchy
    api_auth.py, api_alerts.py, api_devices.py, api_admin.py   JSON API routers (/api/...)
    import_scope.py which rows of a registry import lie in the admin's area (current and new place)
    audit_view.py   the part of the audit log an admin may read
    limits.py       request bodies bounded before they are read (413, connection closed)
    stream.py       server-sent events of alert changes (hub fed by sw/alerts/v1/event)
    pages.py        server-rendered console pages and acknowledgement-link pages
    present.py      names before codes for a reader (building and flat, area, people) and the reader's language
    readings.py     device health, river levels and water use from InfluxDB
    demo.py         demo registry and demo accounts for `shouwang up`
    commands.py     `shouwang api` and `shouwang api user ...`
    templates/, static/   Jinja2 pages, plain JS/CSS and the vendored uPlot chart library
The console lives in its own package because it serves every part (alerts, devices,
river stations) and runs as its own process; it shares the alert store's database.
"""
