"""The check-in answer pages (no login: the signed one-time link is the credential, notify/links.py).

A family member asked about a relative (alerts/checkin.py) opens "她/他没事" or "联系不上" from the message:
GET shows the alert and one button (link previews in chat apps change nothing), the POST from that page
answers through alerts/actions.py: "没事" closes the alert as no emergency, "联系不上" makes the grid worker
due at once (the engine pushes them). Words are the reader's (the contact's language, or ?lang=).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from alerts.lifecycle import AlertNotFound, AlertView
from console.context import AppContext
from console.deps import client_address, get_ctx
from console.pages import _ack_lang, _ack_view, lang_of, render
from notify.links import AckClaim, AckLinkError, CheckinAnswer, CheckinLinks, CheckinResult, answer_checkin
from notify.texts import lang as text_lang

router = APIRouter(include_in_schema=False)

#: the page's words (zh, en)
WORDS = {
    "title": ("家人平安确认", "Checking on your relative"),
    "question_ok": ("您已联系上家人，确认她/他没事吗？", "You reached your relative and she/he is fine?"),
    "question_unreachable": ("您联系不上家人吗？网格员将立即收到通知并上门查看。",
                             "You cannot reach your relative? The grid worker will be told at once and go there."),
    "button_ok": ("她/他没事", "She/he is fine"),
    "button_unreachable": ("联系不上", "I cannot reach them"),
    "done_ok": ("已记录：家人平安，告警已关闭。谢谢！", "Recorded: your relative is fine, the alert is closed. Thank you!"),
    "done_unreachable": ("已通知网格员上门查看。", "The grid worker is being sent now."),
    "already_used": ("此链接已使用过。", "This link has already been used."),
    "already_handled": ("这条告警已结束或已有人处理。", "This alert has ended or is already being handled."),
    "not_responsible": ("此链接已失效（联系人已变更）。", "This link is no longer valid (the contact changed)."),
    "not_found": ("找不到此告警。", "This alert no longer exists."),
    "expired": ("此链接已过期，请直接联系社区。", "This link has expired; please call the community."),
    "bad": ("链接无效。", "This link is not valid."),
    "as_contact": ("回复人", "Answering as"),
}
STATUS = {CheckinResult.RECORDED: 200, CheckinResult.ALREADY_USED: 409, CheckinResult.ALREADY_HANDLED: 200,
          CheckinResult.NOT_RESPONSIBLE: 403, CheckinResult.NOT_FOUND: 404}


def _c(lang: str) -> dict[str, str]:
    i = 1 if text_lang(lang) == "en" else 0
    return {k: v[i] for k, v in WORDS.items()}


def _links(ctx: AppContext) -> CheckinLinks:
    return CheckinLinks(ctx.cfg.api.secret_key.get_secret_value(), ctx.cfg.api.base_url,
                        int(ctx.cfg.notify.ack_link_ttl_h * 3_600_000))


def _page(request: Request, lang: str, answer: CheckinAnswer, stage: str, message: str, status: int = 200,
          alert: AlertView | None = None, contact: str = "", token: str = "", ctx: AppContext | None = None
          ) -> HTMLResponse:
    view = _ack_view(ctx, alert, contact, lang) if ctx is not None else {"a": None, "contact": ""}
    return render(request, "checkin.html", lang, status=status, stage=stage, message=message, answer=answer.value,
                  token=token, c=_c(lang), **view)


def _verify(request: Request, ctx: AppContext, answer: str, token: str) -> tuple[CheckinAnswer, AckClaim] | HTMLResponse:
    """The answer and the claim of a genuine link, or the error page of a bad, forged or expired one."""
    try:
        ans = CheckinAnswer(answer)
    except ValueError:
        lang = lang_of(request)
        return _page(request, lang, CheckinAnswer.OK, "error", _c(lang)["bad"], 404)
    try:
        return ans, _links(ctx).verify(ans, token, ctx.now())
    except AckLinkError as exc:
        lang = lang_of(request)
        key = "expired" if exc.reason == "expired" else "bad"
        return _page(request, lang, ans, "error", _c(lang)[key], 410 if key == "expired" else 404)


@router.get("/checkin/{answer}/{token}", response_class=HTMLResponse)
def checkin_page(request: Request, answer: str, token: str, ctx: AppContext = Depends(get_ctx)) -> HTMLResponse:
    """Shows the alert and the one button; the POST from this page answers."""
    checked = _verify(request, ctx, answer, token)
    if isinstance(checked, HTMLResponse):
        return checked
    ans, claim = checked
    lang = _ack_lang(ctx, claim.contact, request)
    try:
        alert = ctx.store.get(claim.alert_id)
    except AlertNotFound:
        return _page(request, lang, ans, "error", _c(lang)["not_found"], 404)
    return _page(request, lang, ans, "confirm", "", 200, alert, claim.contact, token, ctx)


@router.post("/checkin/{answer}/{token}", response_class=HTMLResponse)
def checkin_submit(request: Request, answer: str, token: str, ctx: AppContext = Depends(get_ctx)) -> HTMLResponse:
    checked = _verify(request, ctx, answer, token)
    if isinstance(checked, HTMLResponse):
        return checked
    ans, claim = checked
    lang = _ack_lang(ctx, claim.contact, request)
    result, _ = answer_checkin(ctx.actions, ans, claim, ctx.registry.get(), client_address(request))
    alert = None
    try:
        alert = ctx.store.get(claim.alert_id)
    except AlertNotFound:
        pass
    done = result is CheckinResult.RECORDED
    message = _c(lang)[f"done_{ans.value}" if done else result.value]
    return _page(request, lang, ans, "done" if done else "error", message, STATUS[result], alert, claim.contact,
                 ctx=ctx)
