"""Grafana dashboards as code, provisioning files, and push to a Grafana server (docs/dashboards.md).

    scope         communities, grids, households, stations from the registry (codes, no personal data)
    queries       the InfluxQL of every panel
    influxql      InfluxQL targets as a typed grafana-foundation-sdk query type
    panels        panel helpers over the SDK builders; context: settings from the config
    boards/       river, water (overview + staff), alerts, devices, ingest
    build         every dashboard of every community -> validated JSON models, written as files
    validate      the JSON against the SDK models (round trip, typed targets, variables, layout)
    provisioning  Grafana provisioning YAML: the InfluxDB data source and one dashboard provider per folder
    push          create or update folders, data source and dashboards over Grafana's HTTP API (grafana-client)
    probe         run every panel's queries against InfluxDB as Grafana would (`shouwang dashboards check`)
    commands      the `shouwang dashboards build|push|check` subcommands
"""
