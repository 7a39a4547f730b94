"""Errors the API answers with a code: the JSON keeps its English `detail` (for scripts and logs) and adds `code` and
`params`, from which the console says what happened in the reader's language (ERRORS, error_text; the page script
has the same table).

    {"detail": "alert 12 is resolved; it can go to closed, not acknowledged",
     "code": "transition_not_allowed", "params": {"id": 12, "state": "resolved", "outcome": "auto_cleared",
                                                 "done": "acknowledge"}}

An HTTPException raised without a code gets its status's (STATUS_CODES: 404 -> not_found ...), so every error the
console shows has words. Params that are codes are said in words: `state` (with `outcome`: "已自动解除", not
"已处置"), `action` (the button's verb), `done` (what the action makes of an alert), `role` (an account's role).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException

from alerts.types import Outcome
from notify import texts

#: a code per HTTP status, for errors raised without one
STATUS_CODES = {400: "bad_request", 401: "login_required", 403: "forbidden", 404: "not_found",
                405: "not_allowed", 409: "conflict", 410: "gone", 413: "too_large", 422: "invalid",
                429: "too_many_requests"}

ERRORS: dict[str, tuple[str, str]] = {
    "alert_not_found": ("找不到告警 #{id}，或它不在您负责的范围内。", "There is no alert #{id} in your area."),
    "transition_not_allowed": ("告警 #{id} 当前为「{state}」，不能再{done}。请刷新页面查看最新情况。",
                               "Alert #{id} is {state} now; it can no longer be {done}. Reload to see where it is."),
    "role_may_not": ("您的账户（{role}）不能执行此操作：{action}。", "Your account ({role}) may not do this: {action}."),
    "unknown_person": ("找不到此人：请从列表中选择您辖区的联系人或用户。",
                       "Nobody of your area by that name: pick a contact or a user from the list."),
    "feedback_required": ("请填写处置反馈，说明处理结果。", "Please say how it ended (feedback)."),
    "too_many_logins": ("登录失败次数过多，请 {wait} 秒后再试。", "Too many failed logins; try again in {wait} s."),
    "bad_request": ("请求有误，请刷新页面后再试。", "The request was not understood; reload and try again."),
    "login_required": ("登录已过期，请重新登录。", "Your login has expired; please log in again."),
    "forbidden": ("您无权执行此操作。", "You may not do this."),
    "not_found": ("找不到您要的内容，或它不在您负责的范围内。", "Not found, or not in your area."),
    "not_allowed": ("不支持此操作。", "This is not possible here."),
    "conflict": ("操作与当前状态冲突，请刷新页面后再试。", "This clashes with the current state; reload and try again."),
    "gone": ("此内容已失效。", "This is no longer valid."),
    "too_large": ("提交的内容过大（此处最多 {limit} 字节）。", "Too much at once (at most {limit} bytes here)."),
    "invalid": ("提交的内容不完整或有误，请检查后再试。", "Something entered is missing or not valid; check and try again."),
    "too_many_requests": ("操作过于频繁，请稍后再试。", "Too many tries; please wait a moment."),
    "server_error": ("服务器出错，请稍后再试。", "The server failed; please try again later."),
    "failed": ("操作失败（状态码 {status}）。", "That did not work (status {status})."),
}
#: what an action makes of an alert, for "it can no longer be ..."
DONE_WORDS = {"acknowledge": ("确认", "acknowledged"), "dispatch": ("派人处理", "dispatched"),
              "resolve": ("标记为已处置", "marked resolved"), "close": ("关闭", "closed")}
#: an account's role (console.scope.UserRole)
USER_ROLE_WORDS = {"street_admin": ("街道管理员", "street admin"), "community_staff": ("社区工作人员", "community staff"),
                   "grid_worker": ("网格员", "grid worker"), "technician": ("技术员", "technician"),
                   "family": ("家属", "family")}


class ApiError(HTTPException):
    """An HTTP error with a code the console says in the reader's words, and the figures the words need."""

    def __init__(self, status_code: int, detail: str, code: str, *, headers: Mapping[str, str] | None = None,
                 **params: Any) -> None:
        super().__init__(status_code, detail, headers=dict(headers) if headers else None)
        self.code = code
        self.params = params


def error_code(exc: HTTPException) -> tuple[str, dict[str, Any]]:
    """The exception's code and params; an HTTPException without a code gets its status's."""
    if isinstance(exc, ApiError):
        return exc.code, dict(exc.params)
    if exc.status_code >= 500:
        return "server_error", {}
    code = STATUS_CODES.get(exc.status_code)
    return (code, {}) if code else ("failed", {"status": exc.status_code})


def _i(lang: str) -> int:
    return 1 if lang == "en" else 0


def error_text(code: str, params: Mapping[str, Any], lang: str) -> str:
    """What happened, in the reader's language (the same words the page script uses)."""
    i = _i(lang)
    words: dict[str, Any] = dict(params)
    if "state" in params:
        outcome = params.get("outcome")
        words["state"] = (texts.OUTCOME_WORDS[Outcome(outcome)][i] if outcome in ("auto_cleared", "false_alarm")
                          else texts.word("states", str(params["state"]), lang))
    if "done" in params:
        words["done"] = DONE_WORDS.get(str(params["done"]), (params["done"],) * 2)[i]
    if "action" in params:
        words["action"] = texts.word("buttons", str(params["action"]), lang)
    if "role" in params:
        words["role"] = USER_ROLE_WORDS.get(str(params["role"]), (params["role"],) * 2)[i]
    template = ERRORS.get(code, ERRORS["failed"])[i]
    try:
        return template.format(**words)
    except (KeyError, IndexError):
        return ERRORS["failed"][i].format(status="?")


def js_errors(lang: str) -> dict[str, dict[str, str]]:
    """The tables the page script renders error codes with."""
    i = _i(lang)
    return {"errors": {k: v[i] for k, v in ERRORS.items()}, "done_words": {k: v[i] for k, v in DONE_WORDS.items()},
            "user_roles": {k: v[i] for k, v in USER_ROLE_WORDS.items()}}
