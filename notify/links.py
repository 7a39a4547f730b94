"""Signed, expiring, one-time acknowledgement links (HMAC-SHA256).

A token names the alert, the contact it was sent to, an expiry and a random nonce:
    base64url("{alert}.{contact}.{expires_s}.{nonce}") "." base64url(HMAC(secret, payload)[:16])
(a contact code may itself contain '.': the payload is split at its first and last two dots)
Anyone holding the link can acknowledge that alert as that contact until it expires, once:
the nonce is stored when used. Opening the link (GET) only shows a page; acknowledging is a
POST from that page, so chat apps that prefetch links cannot acknowledge by accident. The
acknowledgement goes through alerts/actions.py (store, audit, sinks) like any person's change;
every use of a link is audited with its result.

Check-in answers (alerts/checkin.py) are links of the same form, one per answer, each signed with a key of
its own purpose ("checkin-ok", "checkin-unreachable"), so an acknowledgement link cannot be turned into an
answer nor one answer into the other: /checkin/ok/{token} ("她/他没事": the alert closes as no emergency)
and /checkin/unreachable/{token} ("联系不上": the grid worker is pushed at once). They are one-time too, and
only the household's own family can use them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import IntegrityError

from alerts.actions import Actor, AlertActions
from alerts.lifecycle import AlertChange, AlertNotFound, LifecycleError
from ground.errors import ShouwangError
from notify.tables import AckUse
from registry.model import RegistrySnapshot
from registry.types import Role

log = logging.getLogger(__name__)
ACK_CHANNEL = "ack_link"
AUDIT_ACTION = "alert.acknowledge_link"


class AckLinkError(ShouwangError):
    """A link that is malformed, forged or expired (reason says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AckResult(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY_USED = "already_used"
    ALREADY_HANDLED = "already_handled"
    NOT_RESPONSIBLE = "not_responsible"
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class AckClaim:
    alert_id: int
    contact: str
    expires_at: int  # ms
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: a link's purpose -> the path it is served under
PURPOSE_PATHS = {"ack": "/ack", "checkin-ok": "/checkin/ok", "checkin-unreachable": "/checkin/unreachable"}


class AckLinks:
    """Makes and checks one purpose's links (acknowledgement by default) with one secret key."""

    def __init__(self, secret: str, base_url: str, ttl_ms: int, purpose: str = "ack") -> None:
        if not secret:
            raise ValueError("an empty secret cannot sign links")
        if purpose not in PURPOSE_PATHS:
            raise ValueError(f"no link purpose {purpose!r}")
        self._key = hashlib.sha256(f"shouwang-{purpose}-link\0".encode() + secret.encode()).digest()
        self.base_url = base_url.rstrip("/")
        self.ttl_ms = ttl_ms
        self.path = PURPOSE_PATHS[purpose]

    def _sig(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def token(self, alert_id: int, contact: str, now: int) -> str:
        expires_s = (now + self.ttl_ms) // 1000
        payload = f"{int(alert_id)}.{contact}.{expires_s}.{secrets.token_hex(8)}".encode()
        return f"{_b64(payload)}.{_b64(self._sig(payload))}"

    def url(self, alert_id: int, contact: str, now: int) -> str:
        return f"{self.base_url}{self.path}/{self.token(alert_id, contact, now)}"

    def verify(self, token: str, now: int) -> AckClaim:
        """The claim of a genuine, unexpired token; AckLinkError otherwise."""
        try:
            p64, s64 = token.split(".")
            payload, sig = _unb64(p64), _unb64(s64)
            # the alert id, expiry and nonce hold no '.', a contact code may: split around it
            alert, rest = payload.decode().split(".", 1)
            contact, expires_s, nonce = rest.rsplit(".", 2)
            claim = AckClaim(int(alert), contact, int(expires_s) * 1000, nonce)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise AckLinkError("malformed") from None
        if not hmac.compare_digest(sig, self._sig(payload)):
            raise AckLinkError("bad signature")
        if now >= claim.expires_at:
            raise AckLinkError("expired")
        return claim


def redeem(actions: AlertActions, claim: AckClaim, registry: RegistrySnapshot,
           address: str = "") -> tuple[AckResult, AlertChange | None]:
    """Use a verified link once: acknowledge the alert as the contact it was sent to (from `address`)."""
    actor = Actor(claim.contact, ACK_CHANNEL, "contact", address)
    result, change = _redeem(actions, claim, registry, actor)
    if change is None:  # the acknowledgement audits itself; a refused use is audited here
        actions.record(actor, AUDIT_ACTION, f"alert {claim.alert_id}", result.value)
    return result, change


def _redeem(actions: AlertActions, claim: AckClaim, registry: RegistrySnapshot,
            actor: Actor) -> tuple[AckResult, AlertChange | None]:
    db = actions.store.db
    try:
        alert = actions.store.get(claim.alert_id)
    except AlertNotFound:
        return AckResult.NOT_FOUND, None
    contact = next((c for cs in registry.contacts.values() for c in cs if c.code == claim.contact), None)
    # the contact must still be one the alert goes to (removed or moved contacts lose their links)
    if contact is None or contact.code not in {c.code for c in registry.audience(alert.place, [contact.role])}:
        result = AckResult.NOT_RESPONSIBLE
    else:
        result = AckResult.ACKNOWLEDGED
    try:
        with db.session() as s, s.begin():
            s.add(AckUse(nonce=claim.nonce, alert_id=claim.alert_id, contact=claim.contact[:64],
                         at=actions.clock.now_ms(), result=result.value))
    except IntegrityError:
        return AckResult.ALREADY_USED, None
    if result is not AckResult.ACKNOWLEDGED:
        return result, None
    try:
        change = actions.acknowledge(claim.alert_id, actor, "acknowledged by link", audit_action=AUDIT_ACTION,
                                     audit_detail=AckResult.ACKNOWLEDGED.value)
    except LifecycleError:
        with db.session() as s, s.begin():
            use = s.get(AckUse, claim.nonce)
            if use is not None:
                use.result = AckResult.ALREADY_HANDLED.value
        return AckResult.ALREADY_HANDLED, None
    log.info("alert %d acknowledged by link as contact %s", claim.alert_id, claim.contact)
    return AckResult.ACKNOWLEDGED, change


# --- check-in answers --------------------------------------------------------------------------------


class CheckinAnswer(StrEnum):
    OK = "ok"  # 她/他没事
    UNREACHABLE = "unreachable"  # 联系不上


class CheckinResult(StrEnum):
    RECORDED = "recorded"
    ALREADY_USED = "already_used"
    ALREADY_HANDLED = "already_handled"
    NOT_RESPONSIBLE = "not_responsible"
    NOT_FOUND = "not_found"


CHECKIN_AUDIT_ACTION = "alert.checkin_link"


class CheckinLinks:
    """The two answer links of a check-in message, and checking them."""

    def __init__(self, secret: str, base_url: str, ttl_ms: int) -> None:
        self._links = {a: AckLinks(secret, base_url, ttl_ms, f"checkin-{a.value}") for a in CheckinAnswer}

    def url(self, answer: CheckinAnswer, alert_id: int, contact: str, now: int) -> str:
        return self._links[answer].url(alert_id, contact, now)

    def token(self, answer: CheckinAnswer, alert_id: int, contact: str, now: int) -> str:
        return self._links[answer].token(alert_id, contact, now)

    def verify(self, answer: CheckinAnswer, token: str, now: int) -> AckClaim:
        """The claim of a genuine, unexpired link for this answer; AckLinkError otherwise."""
        return self._links[answer].verify(token, now)


def answer_checkin(actions: AlertActions, answer: CheckinAnswer, claim: AckClaim, registry: RegistrySnapshot,
                   address: str = "") -> tuple[CheckinResult, AlertChange | None]:
    """Use a verified check-in link once, as the family member it was sent to (from `address`)."""
    actor = Actor(claim.contact, ACK_CHANNEL, "contact", address)
    result, change = _answer(actions, answer, claim, registry, actor)
    if change is None:  # an answer audits itself; a refused use is audited here
        actions.record(actor, CHECKIN_AUDIT_ACTION, f"alert {claim.alert_id}", f"{answer.value}: {result.value}")
    return result, change


def _answer(actions: AlertActions, answer: CheckinAnswer, claim: AckClaim, registry: RegistrySnapshot,
            actor: Actor) -> tuple[CheckinResult, AlertChange | None]:
    db = actions.store.db
    try:
        alert = actions.store.get(claim.alert_id)
    except AlertNotFound:
        return CheckinResult.NOT_FOUND, None
    family = {c.code for c in registry.audience(alert.place, [Role.FAMILY])}
    result = CheckinResult.RECORDED if claim.contact in family else CheckinResult.NOT_RESPONSIBLE
    try:
        with db.session() as s, s.begin():
            s.add(AckUse(nonce=claim.nonce, alert_id=claim.alert_id, contact=claim.contact[:64],
                         at=actions.clock.now_ms(), result=f"checkin_{answer.value}"[:32]
                         if result is CheckinResult.RECORDED else result.value))
    except IntegrityError:
        return CheckinResult.ALREADY_USED, None
    if result is not CheckinResult.RECORDED:
        return result, None
    try:
        if answer is CheckinAnswer.OK:
            change = actions.checkin_ok(claim.alert_id, actor)
        else:
            change = actions.checkin_unreachable(claim.alert_id, actor)
    except LifecycleError:
        with db.session() as s, s.begin():
            use = s.get(AckUse, claim.nonce)
            if use is not None:
                use.result = CheckinResult.ALREADY_HANDLED.value
        return CheckinResult.ALREADY_HANDLED, None
    log.info("alert %d: check-in answered %s by link as contact %s", claim.alert_id, answer.value, claim.contact)
    return CheckinResult.RECORDED, change
