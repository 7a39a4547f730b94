"""Implementations of `shouwang sim ...` (the parser is in firmware_sim.cli)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from broker_config import Account, gateway_endpoints, service_client, service_endpoints
from firmware_sim.clock import Clock, FastClock, ScaledClock
from firmware_sim.errors import SimError
from firmware_sim.faults import FaultInjector, FaultSpec, OutageWindow
from firmware_sim.labels import Label, Rule, Source, write_labels
from firmware_sim.mqtt import BrokerTarget, MqttTransport, load_credentials
from firmware_sim.progress import ProgressView, fmt_ms, summary_table
from firmware_sim.runner import RunResult, run_stream
from firmware_sim.settings import SimSettings
from firmware_sim.sinks import FileSink, MqttSink, Sink
from firmware_sim.timeparse import DAY_MS, format_duration, parse_duration

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def broker_target(cfg: SimSettings, *, service: bool = False) -> BrokerTarget:
    """Where the configuration's gateways (or, with service=True, its services) connect: launched or external."""
    (host, port, tls), *more = (service_endpoints if service else gateway_endpoints)(cfg)
    ca = cfg.broker.ca_file or (cfg.state_path / "broker" / "tls" / "ca.crt" if tls else None)
    return BrokerTarget(host, port, tls, ca, tuple((h, p) for h, p, _ in more), not cfg.broker.mqtt_protocol_v5)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _signed_ms(text: str) -> int:
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    return sign * parse_duration(text.lstrip("+-"))


def fault_spec(args: argparse.Namespace, origin_ms: int, seed: int) -> FaultSpec:
    """The fault options of a run or replay; outage offsets count from origin_ms."""
    try:
        skew = []
        for s in args.skew:
            gw, _, amount = s.rpartition("=")
            skew.append((gw or "*", _signed_ms(amount)))
        outages = []
        for o in args.outage:
            gw, _, rest = o.partition("@")
            offset, _, length = rest.partition("+")
            if not gw or not offset or not length:
                raise ValueError(f"--outage {o!r}: expected GW@OFFSET+DURATION, e.g. demo-gw-1@2h+30m")
            start = origin_ms + parse_duration(offset)
            outages.append(OutageWindow(gw, start, start + parse_duration(length)))
    except ValueError as exc:
        raise SimError(str(exc)) from None
    return FaultSpec(args.drop, args.duplicate, args.reorder, args.delay, int(args.delay_max * 1000), args.corrupt,
                     tuple(skew), tuple(outages), seed if args.fault_seed is None else args.fault_seed)


def _console() -> Console:
    return Console(stderr=True)


def _print_summary(title: str, rows: list[tuple[str, Any]], args: argparse.Namespace, data: dict) -> None:
    Console().print(summary_table(title, rows))
    if getattr(args, "summary_json", None):
        args.summary_json.parent.mkdir(parents=True, exist_ok=True)
        args.summary_json.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _delivery_rows(res: RunResult) -> list[tuple[str, Any]]:
    d = res.delivery
    rows: list[tuple[str, Any]] = [("messages", f"{res.messages:,} "
                                    f"({', '.join(f'{k} {v:,}' for k, v in sorted(res.by_channel.items()))})")]
    if "sent" in d:
        rows.append(("acknowledged", f"{d['acked']:,} of {d['sent']:,}; failed {d['failed']}, "
                                     f"unacknowledged {d['unacked']}, reconnects {d['reconnects']}"))
    if "written" in d:
        rows.append(("written", f"{d['written']:,} records to {d['file']}"))
    rows.append(("wall time", f"{res.wall_s:.1f} s ({res.rate:,.0f} msg/s)" + (" — stopped early" if res.stopped
                                                                            else "")))
    return rows


def _exit_code(res: RunResult) -> int:
    d = res.delivery
    return 1 if d.get("failed") or d.get("unacked") else 0


def _mqtt_sink(cfg: SimSettings, args: argparse.Namespace, gateways: list[str]) -> MqttSink:
    broker_dir = args.broker_dir or cfg.state_path / "broker"
    creds = load_credentials(broker_dir, gateways, provision=args.provision)
    transport = MqttTransport(broker_target(cfg), creds, window=max(1, args.window), ordered=args.ordered)
    # freshly provisioned credentials reach the broker on its reload, a moment later
    attempts = 10 if args.provision else 1
    for i in range(attempts):
        try:
            transport.open(gateways)
            break
        except SimError:
            if i == attempts - 1:
                raise
            transport = MqttTransport(broker_target(cfg), creds, window=max(1, args.window), ordered=args.ordered)
            time.sleep(0.3)
    return MqttSink(transport)


# --- sim run ---------------------------------------------------------------------------


def _resolve_start(text: str | None, community) -> int:  # noqa: ANN001
    if text is None:
        return community.start_ms()
    if text == "now":
        return _now_ms() // 1000 * 1000
    if text == "today":
        return community.start_ms(dt.datetime.now(community.zone).date())
    try:
        if "T" in text or " " in text:
            return community.start_ms(dt.datetime.fromisoformat(text))
        return community.start_ms(dt.date.fromisoformat(text))
    except ValueError:
        raise SimError(f"--start {text!r}: expected a date (2025-06-01), a date and time "
                       "(2025-06-01T08:00, +08:00 optional), 'today' or 'now'") from None


def cmd_run(cfg: SimSettings, args: argparse.Namespace) -> int:
    """Run a scenario."""
    from firmware_sim.generate import Simulation, birth_message
    from firmware_sim.scenario import load_scenario

    comm = load_scenario(args.scenario, seed=args.seed)
    if args.live:
        return _run_live(cfg, args, comm)
    days = args.days or comm.meta.days
    if days < 1:
        raise SimError("--days must be at least 1")
    start_ms = _resolve_start(args.start, comm)
    length_ms = int(args.duration * 1000) if args.duration else days * DAY_MS
    end_ms: int | None = None if args.follow else start_ms + length_ms
    offline = args.out is not None
    if args.follow and (offline or args.fast):
        raise SimError("--follow runs live; it cannot be combined with --fast or --out")
    if not offline and args.fast and not args.allow_future and end_ms is not None and end_ms > _now_ms():
        if start_ms >= _now_ms():
            raise SimError("the window starts in the future; pass --allow-future to publish such timestamps")
        end_ms = _now_ms()
        log.warning("the window reaches into the future; cut at now (%s). --allow-future keeps it", fmt_ms(end_ms))
    sim = Simulation(comm, start_ms, end_ms)
    if args.days and args.days < comm.meta.days:
        log.info("running %d of the scenario's %d days", args.days, comm.meta.days)
    faults = fault_spec(args, start_ms, comm.seed)
    injector = FaultInjector(faults)
    items = injector.apply(sim.items())
    stop = _stop_on_signals()
    sink: Sink
    if offline:
        sink = FileSink(args.out, f"sim:{comm.meta.name}", scenario=comm.meta.name, seed=comm.seed,
                        start_ms=start_ms, end_ms=end_ms)
        for gw in sim.gateways:
            sink.send(birth_message(gw, start_ms))
        clock: Clock = FastClock(start_ms)
    else:
        sink = _mqtt_sink(cfg, args, list(sim.gateways))
        if args.fast:
            clock = FastClock(start_ms)
        else:
            clock = ScaledClock(start_ms, args.speed or 1.0, cap_to_real=not args.allow_future)
    mode = "offline" if offline else ("fast" if args.fast else f"speed {args.speed or 1:g}")
    progress = ProgressView(_console(), f"{comm.meta.name} ({mode})", start_ms, end_ms, comm.zone,
                            enabled=not args.no_progress)
    log.info("scenario %s seed %d from %s to %s: %d devices on %d gateways", comm.meta.name, comm.seed,
             fmt_ms(start_ms, comm.zone), fmt_ms(end_ms, comm.zone) if end_ms else "(following real time)",
             len(sim.devices), len(sim.gateways))
    res = run_stream(items, sink, clock, progress, stop)
    labels = sim.labels.labels()
    for o in faults.outages:
        labels.append(Label("gateway_outage", Source.FAULT, o.start_ms, Rule.GATEWAY_OFFLINE, gateway=o.gateway,
                            end_ms=o.end_ms, details={"alert_due_ms": o.start_ms}))
    n_labels = write_labels(args.labels, labels, comm.meta.name, comm.seed) if args.labels else None
    rows = [("scenario", f"{comm.meta.name} (seed {comm.seed}) — {comm.source}"),
            ("window", f"{fmt_ms(start_ms, comm.zone)} .. {fmt_ms(end_ms, comm.zone) if end_ms else 'following'} "
                       f"({comm.meta.timezone}), {mode}"),
            ("devices", ", ".join(f"{k} {v}" for k, v in comm.device_count().items()) +
             f" on {len(sim.gateways)} gateway(s)")]
    rows += _delivery_rows(res)
    rows.append(("faults", f"{faults.describe()}: {injector.report.as_dict()}" if faults.describe() != "none"
                 else "none"))
    rows.append(("labels", f"{n_labels} written to {args.labels}" if args.labels else
                 f"{len(labels)} (pass --labels FILE to write them)"))
    _print_summary("Simulation summary", rows, args, {
        "scenario": comm.meta.name, "seed": comm.seed, "start_ms": start_ms, "end_ms": end_ms, "mode": mode,
        "messages": res.messages, "by_channel": dict(res.by_channel), "controls": res.controls,
        "delivery": res.delivery, "faults": injector.report.as_dict(), "labels": len(labels),
        "wall_s": round(res.wall_s, 3), "stopped": res.stopped})
    return _exit_code(res)


#: a live run picks up what it missed while down for at most this long (sent late, like a gateway's
#: outbox); a longer gap is history, written to InfluxDB by `shouwang up`, never sent through the broker
LIVE_CATCH_UP_MS = 5 * 60_000
LIVE_SAVE_EVERY_MS = 5_000


def _offset(inc) -> int:  # noqa: ANN001
    """A live incident's offset from the origin (a fall's: when its inactivity window runs out)."""
    return inc.after if inc.after is not None else inc.window_ends_after


def _run_live(cfg: SimSettings, args: argparse.Namespace, comm) -> int:  # noqa: ANN001
    """`sim run SCENARIO --live`: real time, resumable (firmware_sim/live.py)."""
    from dataclasses import replace

    from firmware_sim.generate import Simulation
    from firmware_sim.live import begin, save_state, state_file, throttle

    clash = [o for o, v in (("--speed", args.speed), ("--fast", args.fast), ("--start", args.start),
                            ("--days", args.days), ("--duration", args.duration), ("--follow", args.follow),
                            ("--out", args.out), ("--labels", args.labels)) if v]
    if clash:
        raise SimError(f"--live runs at real time from the scenario's saved state; it takes no {', '.join(clash)}")
    path = state_file(cfg.state_path, comm.meta.name)
    now = _now_ms()
    st, _ = begin(path, comm, now)
    resume = st.played_to_ms
    if now - resume > LIVE_CATCH_UP_MS:
        log.warning("%s was last played up to %s: the %s since are not sent (`shouwang up` writes such a gap to "
                    "InfluxDB as history before it starts the devices)", comm.meta.name, fmt_ms(resume, comm.zone),
                    format_duration(now - resume))
        resume = now
    st = replace(st, played_to_ms=resume)
    save_state(path, st)
    sim = Simulation(comm, st.anchor_ms(comm), None, live_origin_ms=st.origin_ms)
    faults = fault_spec(args, st.origin_ms, comm.seed)
    injector = FaultInjector(faults)
    items = (i for i in sim.items() if i.at_ms > resume)

    def played(t: int) -> None:
        save_state(path, replace(st, played_to_ms=max(t, resume)))

    items = throttle(injector.apply(items), LIVE_SAVE_EVERY_MS, played)
    stop = _stop_on_signals()
    sink = _mqtt_sink(cfg, args, list(sim.gateways))
    progress = ProgressView(_console(), f"{comm.meta.name} (live)", resume, None, comm.zone,
                            enabled=not args.no_progress)
    due = ", ".join(f"{i.type} +{format_duration(_offset(i))}" for i in comm.live_incidents
                    if st.origin_ms + _offset(i) > resume)
    log.info("scenario %s seed %d live since %s, resuming at %s: %d devices on %d gateways; still to come: %s",
             comm.meta.name, comm.seed, fmt_ms(st.origin_ms, comm.zone), fmt_ms(resume, comm.zone), len(sim.devices),
             len(sim.gateways), due or "no live incidents")
    res = run_stream(items, sink, ScaledClock(resume, 1.0, cap_to_real=True), progress, stop)
    rows = [("scenario", f"{comm.meta.name} (seed {comm.seed}) — {comm.source}"),
            ("live", f"since {fmt_ms(st.origin_ms, comm.zone)}, this run from {fmt_ms(resume, comm.zone)} "
                     f"({comm.meta.timezone}); state {path}")]
    rows += _delivery_rows(res)
    _print_summary("Simulation summary", rows, args, {
        "scenario": comm.meta.name, "seed": comm.seed, "origin_ms": st.origin_ms, "resumed_ms": resume,
        "mode": "live", "messages": res.messages, "by_channel": dict(res.by_channel), "delivery": res.delivery,
        "wall_s": round(res.wall_s, 3), "stopped": res.stopped})
    return _exit_code(res)


# --- sim replay ------------------------------------------------------------------------


def cmd_replay(cfg: SimSettings, args: argparse.Namespace) -> int:
    """Republish a record file."""
    from firmware_sim.replay import ReplayFilter, plan_replay, replay_items

    flt = ReplayFilter(frozenset(args.gateway), frozenset(args.device), frozenset(args.kind))
    plan = plan_replay(args.file, flt)
    if plan.count == 0 or plan.first_ms is None:
        why = "no message matches the filters" if flt != ReplayFilter() else "no contract messages"
        raise SimError(f"{args.file}: nothing to replay ({why})")
    speed = None if args.fast else (args.speed or 1.0)
    shift = 0
    if args.shift_to_now:
        replay_span = 0 if speed is None else plan.span_ms / speed
        shift = int(_now_ms() + replay_span - plan.last_ms)  # type: ignore[operator]
    faults = fault_spec(args, plan.first_ms, 0)
    injector = FaultInjector(faults)
    items = injector.apply(replay_items(plan, shift))
    stop = _stop_on_signals()
    sink = _mqtt_sink(cfg, args, sorted(plan.gateways))
    clock: Clock = FastClock(plan.first_ms) if speed is None else ScaledClock(plan.first_ms, speed)
    mode = "fast" if speed is None else f"speed {speed:g}"
    progress = ProgressView(_console(), f"replay {args.file.name} ({mode})", plan.first_ms, plan.last_ms + 1,
                            enabled=not args.no_progress)
    res = run_stream(items, sink, clock, progress, stop)
    rows = [("file", f"{args.file} — {plan.count:,} messages over {format_duration(plan.span_ms)} "
                     f"from {len(plan.gateways)} gateway(s)"),
            ("mode", mode + (f", timestamps shifted by {format_duration(abs(shift))}" if shift else ""))]
    if plan.skipped_lines or plan.truncated or plan.not_contract:
        rows.append(("file problems", f"{len(plan.skipped_lines)} bad line(s) skipped, "
                                      f"{plan.not_contract} non-contract topic(s) left out"
                                      + (", file cut short" if plan.truncated else "")))
    rows += _delivery_rows(res)
    rows.append(("faults", f"{faults.describe()}: {injector.report.as_dict()}" if faults.describe() != "none"
                 else "none"))
    _print_summary("Replay summary", rows, args, {
        "file": str(args.file), "messages": res.messages, "by_channel": dict(res.by_channel),
        "delivery": res.delivery, "faults": injector.report.as_dict(), "shift_ms": shift,
        "skipped_lines": plan.skipped_lines, "truncated": plan.truncated, "wall_s": round(res.wall_s, 3),
        "stopped": res.stopped})
    return _exit_code(res)


# --- sim record ------------------------------------------------------------------------


def cmd_record(cfg: SimSettings, args: argparse.Namespace) -> int:
    """Record live traffic."""
    from firmware_sim.record import record_traffic

    target = broker_target(cfg, service=True)
    stop = _stop_on_signals()

    def ready() -> None:
        print(f"recording {args.topic} from {target.url} to {args.out}"
              + (f" for {args.duration:g} s" if args.duration else " until Ctrl-C"), flush=True)

    client = service_client(cfg, Account.SIM, f"svc_sim_record_{os.getpid()}")
    res = record_traffic(client, target, args.out,
                         topic=args.topic, duration_s=args.duration, max_messages=args.count, stop=stop,
                         on_ready=ready)
    Console().print(summary_table("Record summary", [("file", str(res.path)), ("messages", f"{res.messages:,}"),
                                                     ("duration", f"{res.seconds:.1f} s")]))
    return 0


# --- sim list / check / registry -------------------------------------------------------


def cmd_list(cfg: SimSettings, args: argparse.Namespace) -> int:
    """List shipped scenarios."""
    from rich.table import Table

    from firmware_sim.scenario import list_scenarios, load_scenario

    table = Table(title="Shipped scenarios (shouwang sim run NAME)", title_justify="left")
    table.add_column("name", no_wrap=True)
    for col in ("days", "households", "devices", "gateways", "incidents"):
        table.add_column(col, justify="right")
    notes = []
    for path in list_scenarios():
        c = load_scenario(path)
        table.add_row(c.meta.name, str(c.meta.days), str(len(c.households)), str(sum(c.device_count().values())),
                      str(len(c.gateways)), str(len(c.incidents)))
        notes.append(f"  {c.meta.name}: {c.meta.description}")
    console = Console()
    console.print(table)
    console.print("\n".join(notes), highlight=False)
    return 0


def cmd_check(cfg: SimSettings, args: argparse.Namespace) -> int:
    """Validate a scenario and say what it holds."""
    from firmware_sim.scenario import load_scenario

    c = load_scenario(args.scenario)
    counts = ", ".join(f"{v} {k}" for k, v in c.device_count().items())
    flagged = sum(1 for h in c.households if h.solitary_elderly)
    print(f"{c.source}: ok — {c.meta.days} day(s), {len(c.grids)} grid(s), {len(c.buildings)} building(s), "
          f"{len(c.households)} household(s) ({flagged} solitary elderly), {counts}, "
          f"{len(c.gateways)} gateway(s), {len(c.incidents)} incident(s)")
    return 0


def cmd_registry(cfg: SimSettings, args: argparse.Namespace) -> int:
    """Export the scenario's registry view as JSON."""
    from firmware_sim.scenario import load_scenario
    from firmware_sim.scenario.export import registry_export

    text = json.dumps(registry_export(load_scenario(args.scenario)), ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0
