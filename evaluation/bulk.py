"""Reading a traffic file in bulk for the fast backtest (fastpath.py): whole chunks of lines at a time.

A chunk of complete lines is decoded with msgspec in one call, and the payloads of the readings of registered water
meters - nearly all of a county's traffic - in one more call, into typed structs that accept only what the wire
contract accepts (wire.models: the same data model, the envelope's fields and bounds); their values come out as
numpy columns. Every other line - another kind or channel, a device the registry does not know, anything the typed
decode refuses, a payload the contract might refuse (too long, a ts before 2020, a battery voltage the health rule
reads) - goes through exactly the per-line path of traffic.py (wire.decode), so its item or its reason is the same
as there. A chunk the bulk decode cannot take as a whole (a blank line, a line that is not an object, payloads given
as objects in some lines and as text in others) is read line by line.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, BinaryIO, Literal

import msgspec
import numpy as np
from msgspec import Meta

from evaluation.traffic import HEADER_KEY, Item, LineError, TrafficFile, TrafficFileError
from wire.errors import ContractError
from wire.models import MIN_TS_MS, WaterMeterReading, decode
from wire.topics import DeviceTopic, parse_topic

CHUNK_BYTES = 8 << 20
FAST_PAYLOAD_CHARS = 4096  # at most 16 KiB of UTF-8 whatever the characters: shorter payloads need no size check
NONE_MS = -(2**62)


def read_chunks(path: Path, size: int | None = None) -> Iterator[tuple[bytes, bool]]:
    """(bytes of whole lines, is the first chunk) of a plain or gzip file; the last line may lack its newline.
    A gzip file cut short yields its whole lines and then raises EOFError, as gzip's reader does. A gzip file is
    read and decompressed by a thread of its own a block or two ahead (zlib lets go of the interpreter while it
    inflates, so on two cores the decompression overlaps the decoding)."""
    size = size or CHUNK_BYTES
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise TrafficFileError(f"{path}: cannot open: {exc.strerror}") from None
    with fh:
        gz = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        blocks = _ahead(_inflate(fh, size // 4)) if gz else iter(lambda: fh.read(size), b"")
        rest = b""
        first = True
        try:
            for block in blocks:
                block = rest + block
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    rest = block
                    continue
                rest = block[cut:]
                yield block[:cut], first
                first = False
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()  # the reading thread stops before the file is closed
        if rest:
            yield rest, first


def _inflate(fh: BinaryIO, size: int) -> Iterator[bytes]:
    """The decompressed blocks of a gzip file; EOFError at the end if it is cut short."""
    z = zlib.decompressobj(wbits=31)
    while block := fh.read(size):
        out = [z.decompress(block)]
        while z.eof and z.unused_data:  # a multi-member gzip file (a recorder's sync points are not)
            more = z.unused_data
            z = zlib.decompressobj(wbits=31)
            out.append(z.decompress(more))
        yield b"".join(out)
    if not z.eof:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")


def _ahead(blocks: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """The items of `blocks`, produced by a thread of their own up to `depth` ahead; an exception it raises is
    raised here after the items before it. Closing this generator stops the thread (and waits for it)."""
    q: queue.Queue[tuple[bytes | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for b in blocks:
                q.put((b, None))
                if stop.is_set():
                    return
            q.put((None, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            q.put((None, exc))

    th = threading.Thread(target=run, name="traffic-inflate", daemon=True)
    th.start()
    try:
        while True:
            b, exc = q.get()
            if exc is not None:
                raise exc
            if b is None:
                return
            yield b
    finally:
        stop.set()
        while th.is_alive():  # unblock its put() until it has seen the stop
            try:
                q.get_nowait()
            except queue.Empty:
                th.join(0.01)


class _Line(msgspec.Struct):
    """A line as traffic.py reads it; other keys (qos, retain) are ignored there too."""

    topic: str
    t_ms: int | None = None
    payload: str | None = None


class _WaterReading(msgspec.Struct, forbid_unknown_fields=True):
    """The envelope of a water_meter/reading (wire.models._Envelope with its kind and data fixed)."""

    v: Literal[1]
    kind: Literal["water_meter"]
    ts: int
    seq: Annotated[int, Meta(ge=0, le=2**63 - 1)]
    data: WaterMeterReading


class _RawLine(msgspec.Struct):
    topic: str
    t_ms: int | None = None
    payload: msgspec.Raw | None = None


_LINES = msgspec.json.Decoder(_Line)
_RAW_LINES = msgspec.json.Decoder(_RawLine)
_TEXT = msgspec.json.Decoder(str)


def _objects(data: bytes) -> list[_Line] | None:
    """Lines whose payload is an object or its text; an object's payload is its JSON text (as traffic.py
    re-encodes it), anything else None (the per-line path reads that line again)."""
    try:
        raw = _RAW_LINES.decode_lines(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    out = []
    for r in raw:
        p = r.payload
        line = _Line(r.topic, r.t_ms, None)
        if p is not None:
            b = bytes(p)
            if b[:1] == b"{":
                line = _ObjectLine(r.topic, r.t_ms, b.decode("utf-8"))
            elif b[:1] == b'"':
                line = _Line(r.topic, r.t_ms, _TEXT.decode(b))
        out.append(line)
    return out


class _ObjectLine(_Line):
    """A line whose payload was an object: if the bulk decode does not take it, the per-line path reads the
    line again (it re-encodes the object before the contract sees it)."""
_READINGS = msgspec.json.Decoder(list[_WaterReading])
_READING = msgspec.json.Decoder(_WaterReading)


@dataclass
class Chunk:
    """Lines in file order. Fast rows (a registered meter's reading) are columns; `slow` maps a row to its item
    or its line error, decoded by traffic.py's per-line path."""

    line: np.ndarray  # line number of every row
    t: np.ndarray  # when the engine saw it (capture time, or the payload's ts); NONE_MS for errors / unknown
    meter: np.ndarray  # row in the meter table, -1 for slow rows
    ts: np.ndarray
    total: np.ndarray
    flow: np.ndarray  # NaN: not sent
    leak: np.ndarray
    slow: dict[int, Item | LineError] = field(default_factory=dict)
    recs: list | None = None  # the rows as decoded lines (topic, t_ms, payload), for item()
    data: bytes = b""  # the chunk's bytes, for item() of a line whose payload was an object

    def __len__(self) -> int:
        return len(self.line)


class BulkTraffic:
    """A traffic file read in chunks; `meters` are the registry's water meters (their row is their index)."""

    def __init__(self, path: Path, meters: dict[str, int], gateways: dict[str, str] | None = None) -> None:
        """gateways: each meter's registered gateway ("" for any); a reading from another is left to the per-line
        path (which reports and skips it)."""
        self.file = TrafficFile(path)  # format, lines, errors: the same bookkeeping as the per-line reader
        self.meters = meters
        self.gateways = gateways or {}
        self._topics: dict[str, int] = {}

    @property
    def errors(self) -> list[LineError]:
        return self.file.errors

    def _meter_of(self, topic: str) -> int:
        """The meter row of a registered meter's reading topic; -1 for anything else."""
        row = self._topics.get(topic)
        if row is None:
            try:
                t = parse_topic(topic)
            except ContractError:
                t = None
            row = self.meters.get(t.device, -1) if isinstance(t, DeviceTopic) and t.channel == "reading" else -1
            if row >= 0 and self.gateways.get(t.device, "") not in ("", t.gateway):
                row = -1
            if len(self._topics) < 1_000_000:
                self._topics[topic] = row
        return row

    def chunks(self) -> Iterator[Chunk]:
        lineno = 0
        try:
            for data, first in read_chunks(self.file.path):
                if first:
                    nl = data.find(b"\n")
                    head = data[:nl + 1] if nl >= 0 else data
                    if head.strip() and _is_header(head, self.file):
                        data = data[len(head):]
                        lineno = 1
                        self.file.lines = 1
                n = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
                yield self._chunk(data, lineno, n)
                lineno += n
                self.file.lines = lineno
        except (EOFError, OSError, zlib.error) as exc:  # a gzip file cut short: keep what came before
            self.file.errors.append(LineError(lineno + 1, f"file ends abruptly ({exc}); read up to here"))
        if self.file.lines == 0:
            raise TrafficFileError(f"{self.file.path}: empty file")

    def _chunk(self, data: bytes, lineno: int, n: int) -> Chunk:
        with _no_gc():
            return self._decode(data, lineno, n)

    def _decode(self, data: bytes, lineno: int, n: int) -> Chunk:
        try:
            recs = _LINES.decode_lines(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            recs = _objects(data)  # payloads given as objects in some lines
        if recs is None or len(recs) != n:
            return self._by_line(data, lineno)
        # a known topic's row by a lookup, not a call a line (-2: not seen yet); then payloads that are absent
        # or too long, if any, are read per line (-1)
        rows = list(map(self._topics.get, [r.topic for r in recs], itertools.repeat(-2, n)))
        if -2 in rows:
            meter_of = self._meter_of
            rows = [meter_of(recs[i].topic) if x == -2 else x for i, x in enumerate(rows)]
        payloads = [r.payload for r in recs]
        if None in payloads or max(map(len, payloads), default=0) > FAST_PAYLOAD_CHARS:
            rows = [x if p is not None and len(p) <= FAST_PAYLOAD_CHARS else -1
                    for x, p in zip(rows, payloads, strict=True)]
        meter = np.array(rows, dtype=np.int64)
        fast = np.flatnonzero(meter >= 0)
        line = np.arange(lineno + 1, lineno + n + 1, dtype=np.int64)
        t = np.full(n, NONE_MS, dtype=np.int64)
        ts = np.zeros(n, dtype=np.int64)
        total = np.zeros(n, dtype=np.float64)
        flow = np.full(n, np.nan, dtype=np.float64)
        leak = np.zeros(n, dtype=bool)
        fl = fast.tolist()
        every = len(fl) == n  # every row a registered meter's reading (nearly every chunk of a county's traffic)
        envs = self._payloads(payloads if every else [payloads[i] for i in fl])
        if None in envs:  # payloads the typed decode refused: the per-line path reads them
            keep = [e is not None for e in envs]
            meter[[i for i, k in zip(fl, keep, strict=True) if not k]] = -1
            fl = [i for i, k in zip(fl, keep, strict=True) if k]
            envs = [e for e in envs if e is not None]
            every = False
        if fl:
            idx = np.array(fl, dtype=np.int64)
            tsa = np.array([e.ts for e in envs], dtype=np.int64)
            datas = [e.data for e in envs]
            bats = [d.battery_v for d in datas]
            bad = tsa < MIN_TS_MS  # before 2020, or a battery voltage (the health rule reads it): per line
            if bats.count(None) != len(bats):
                bad |= np.array([b is not None for b in bats], dtype=bool)
            if bad.any():
                meter[idx[bad]] = -1
                ok = ~bad
                sel = np.flatnonzero(ok).tolist()
                idx, tsa = idx[ok], tsa[ok]
                datas = [datas[k] for k in sel]
                fl = idx.tolist()
                every = False
        if fl:
            ts[idx] = tsa
            total[idx] = [d.total_l for d in datas]
            flows = [d.flow_lpm for d in datas]
            if None in flows:
                flows = [np.nan if f is None else f for f in flows]
            flow[idx] = flows
            leaks = [d.leak_flag for d in datas]
            if leaks.count(None) + leaks.count(False) != len(leaks):
                leak[idx] = [bool(x) for x in leaks]
            tm = [r.t_ms for r in recs] if every else [recs[i].t_ms for i in fl]
            if None in tm:
                t[idx] = [x if x is not None else y for x, y in zip(tm, tsa.tolist(), strict=True)]
            else:
                t[idx] = tm
        slow: dict[int, Item | LineError] = {}
        raw: list[bytes] = []
        for i in np.flatnonzero(meter < 0).tolist():
            r = recs[i]
            if r.payload is None or not r.topic or type(r) is _ObjectLine:  # payload_b64, an object, no topic
                raw = raw or data.split(b"\n")
                slow[i] = self._line(lineno + 1 + i, raw[i])
            else:
                slow[i] = self._one(lineno + 1 + i, r.topic, r.t_ms, r.payload)
            it = slow[i]
            if isinstance(it, Item):
                t[i] = it.at_ms if it.at_ms is not None else (it.msg.ts if it.msg.ts is not None else NONE_MS)
        return Chunk(line, t, meter, ts, total, flow, leak, slow, recs, data)

    def item(self, chunk: Chunk, i: int) -> Item | LineError:
        """A fast row as the per-line path decodes it (for a reading the engine itself must see)."""
        r = chunk.recs[i]
        if type(r) is _ObjectLine:
            return self._line(int(chunk.line[i]), chunk.data.split(b"\n")[i])
        return self._one(int(chunk.line[i]), r.topic, r.t_ms, r.payload)

    def _payloads(self, payloads: list[str]) -> list[_WaterReading | None]:
        """Every payload decoded as a water reading, in one call if they all are; None where one is not."""
        if not payloads:
            return []
        try:
            out = _READINGS.decode("[" + ",".join(payloads) + "]")
            if len(out) == len(payloads):
                return out
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeEncodeError):
            pass
        res: list[_WaterReading | None] = []
        for p in payloads:
            try:
                res.append(_READING.decode(p))
            except (msgspec.ValidationError, msgspec.DecodeError, UnicodeEncodeError):
                res.append(None)
        return res

    def _one(self, lineno: int, topic: str, t_ms: int | None, payload: str) -> Item | LineError:
        """A row that is not a plain registered reading, on traffic.py's per-line path (payload as text)."""
        try:
            return Item(lineno, t_ms, decode(topic, payload.encode("utf-8")))
        except (ValueError, ContractError) as exc:
            err = LineError(lineno, str(exc))
            self.file.errors.append(err)
            return err

    def _line(self, lineno: int, raw: bytes) -> Item | LineError:
        try:
            return self.file._item(lineno, raw)
        except (ValueError, ContractError) as exc:
            err = LineError(lineno, str(exc))
            self.file.errors.append(err)
            return err

    def _by_line(self, data: bytes, lineno: int) -> Chunk:
        """A chunk the bulk decode cannot take: every line on its own (blank lines are skipped, as there)."""
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        items: list[tuple[int, Item | LineError]] = []
        for k, raw in enumerate(lines):
            if raw.strip():
                items.append((lineno + 1 + k, self._line(lineno + 1 + k, raw)))
        n = len(items)
        t = np.full(n, NONE_MS, dtype=np.int64)
        slow: dict[int, Item | LineError] = {}
        for i, (_, it) in enumerate(items):
            slow[i] = it
            if isinstance(it, Item):
                t[i] = it.at_ms if it.at_ms is not None else (it.msg.ts if it.msg.ts is not None else NONE_MS)
        return Chunk(np.array([x for x, _ in items], dtype=np.int64), t, np.full(n, -1, dtype=np.int64),
                     np.zeros(n, dtype=np.int64), np.zeros(n), np.full(n, np.nan), np.zeros(n, dtype=bool), slow)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """No cyclic garbage collection while a chunk's ~10^5 structs are made: they form no cycles (reference
    counting frees them), and the collector would walk them again and again - it tripled the decode time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _is_header(head: bytes, file: TrafficFile) -> bool:
    """Line 1: the record file's header (sets the format), or the first message of JSONL."""
    try:
        obj = msgspec.json.decode(head)
    except msgspec.DecodeError:
        import json

        try:
            obj = json.loads(head)
        except ValueError:
            obj = None
    if isinstance(obj, dict) and HEADER_KEY in obj:
        if obj[HEADER_KEY] != 1:
            raise TrafficFileError(f"{file.path}:1: record format {obj[HEADER_KEY]!r} is not supported (1 is)")
        file.format = "record"
        return True
    file.format = "jsonl"
    return False
