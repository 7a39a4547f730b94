"""Notifications: getting alerts to people, a floor above the alerts they deliver (the seam the engine calls,
Notification and Notifier, is alerts/notifier.py).

    dispatch.py   ChannelNotifier, the service's notifier: family scope, quiet hours and digests,
                  worker threads, retries with backoff, every attempt stored
    recorder.py   StoreNotifier: records each hand-off and sends nothing (evaluation, tests)
    base.py       what both share: local time for quiet hours, storing deliveries (through
                  AlertStore.record_deliveries), listeners
    channels.py   one send to one Apprise URL (WeCom, DingTalk, Feishu, e-mail, ntfy, webhooks ...),
                  outbound relays; URLs are never logged
    texts.py      words (zh/en) for rules, severities, events, states, roles; message and digest
                  texts rendered from templates/ (Jinja2)
    links.py      signed, expiring, one-time acknowledgement links
    records.py, tables.py   attempts and statuses of deliveries, used links: "was the family told?"
    settings.py   the `[notify]` section; what links need of `[api]`; NotifySettings, what notifications
                  need of the assembled config
This package sits above alerts/ (it imports alerts, never the other way): the engine's service is
given its notifier by the top (shouwang/services.py).
"""
