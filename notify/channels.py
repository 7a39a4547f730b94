"""Push channels through Apprise: one send of one message to one contact URL, with its outcome.

Apprise URLs carry bot keys, phone numbers and e-mail addresses, so they are never logged:
records name the scheme and the URL's position in the contact's list. Apprise's own log
lines (which may quote recipients) are captured per send, kept with the attempt record, and
not passed to the service log.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise

log = logging.getLogger(__name__)

#: bot plugins whose API host is fixed in Apprise; an outbound relay may stand in for it
RELAY_PLUGINS = {
    "wecombot": ("apprise.plugins.wecombot", "NotifyWeComBot"),
    "dingtalk": ("apprise.plugins.dingtalk", "NotifyDingTalk"),
    "feishu": ("apprise.plugins.feishu", "NotifyFeishu"),
}


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one attempt on one channel."""

    ok: bool
    error: str
    duration_ms: int


def scheme_of(url: str) -> str:
    """The scheme of an Apprise URL ('' if it has none); safe to log and store."""
    return urlsplit(url).scheme.lower()[:32] if "://" in url else ""


class _Capture(logging.Handler):
    """Collects Apprise's log records of the current thread's send (concurrent sends stay apart)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.local = threading.local()

    def start(self) -> None:
        self.local.lines = []

    def take(self) -> list[str]:
        lines = getattr(self.local, "lines", None) or []
        self.local.lines = None
        return lines

    def emit(self, record: logging.LogRecord) -> None:
        lines = getattr(self.local, "lines", None)
        if lines is not None and record.levelno >= logging.INFO:
            lines.append(f"{record.levelname}: {record.getMessage()}"[:500])


_capture = _Capture()
_install_lock = threading.Lock()
_installed = False


def _install_capture() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        alog = logging.getLogger("apprise")
        alog.addHandler(_capture)
        alog.setLevel(logging.INFO)
        alog.propagate = False  # recipients in Apprise's messages stay out of the service log
        _installed = True


def apply_relays(relays: dict[str, str]) -> None:
    """Point bot plugins at an outbound relay (process-wide: Apprise keeps the API URL on the class)."""
    import importlib

    for scheme, template in relays.items():
        module, cls = RELAY_PLUGINS[scheme]
        getattr(importlib.import_module(module), cls).notify_url = template
        log.info("%s messages go through the configured relay", scheme)


class ChannelSender:
    """Sends one message to one Apprise URL, synchronously, with explicit timeouts."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self.asset = apprise.AppriseAsset(async_mode=False)
        _install_capture()
        with warnings.catch_warnings():
            # Apprise's e-mail plugin imports the stdlib `imghdr`, deprecated in 3.11; load every plugin
            # now (not on the first alert) with that one warning silenced
            warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
            apprise.Apprise.instantiate("json://localhost", asset=self.asset)

    def send(self, url: str, title: str, body: str) -> SendResult:
        """Deliver title/body to url; never raises for a channel problem."""
        t0 = time.perf_counter()
        _capture.start()
        try:
            plugin = apprise.Apprise.instantiate(url, asset=self.asset)
            if plugin is None:
                ok, why = False, f"not a usable Apprise URL (scheme {scheme_of(url) or 'missing'})"
            else:
                plugin.socket_connect_timeout = min(self.timeout_s, 4.0)
                plugin.socket_read_timeout = self.timeout_s
                ok = bool(plugin.notify(body=body, title=title))
                why = ""
        except Exception as exc:  # a plugin bug must not lose the attempt record; it is stored as the outcome
            ok, why = False, f"{type(exc).__name__}: {exc}"
        lines = _capture.take()
        if not ok and not why:
            errors = [ln for ln in lines if not ln.startswith(("INFO", "DEBUG"))]
            why = "; ".join((errors or lines)[-3:]) or "the channel refused the message"
        return SendResult(ok, why[:2000], int((time.perf_counter() - t0) * 1000))
