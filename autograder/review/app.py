"""The review app's pages and actions (Starlette), served by `autograder review <lab>`.

    GET  /                          the lab's questions with their progress
    GET  /q/<n>                     a question: its rubric (written), its answer groups
    GET  /q/<n>/next?after=<group>  the next answer group to grade (or review)
    GET  /q/<n>/g/<group>           one answer group, graded at once for all its members
    GET  /q/<n>/s/<student>         one student's answer, graded for that student alone
    POST /q/<n>/g/<group>/grade     apply or remove a rubric item, an adjustment with a comment,
    POST /q/<n>/s/<student>/grade     an override with a reason, keep or clear a grade
    POST /q/<n>/rubric              add a rubric item
    POST /q/<n>/rubric/<item>       change or remove one (every answer that has it is re-scored)
    GET|POST /login, POST /logout   with TA logins from course_config.py

Every action is a form POST that names the state the TA saw (the grades' versions); one that
finds another TA's change meanwhile answers 409 and changes nothing. Pages follow
post/redirect/get, so reloading never repeats an action. Keyboard shortcuts (static/review.js):
the digits apply rubric items, `n` goes to the next ungraded answer.
"""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from autograder.records.manual_grades import Change, GradeConflict
from autograder.review.render import render_markdown
from autograder.review.security import (
    CSRF_FIELD,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    Gate,
    Session,
)
from autograder.review.state import Group, LabReview, Member, ReviewQuestion

STATIC = Path(__file__).resolve().parent / "static"
LOGIN_COOKIE = "review_login"
MAX_ITEM_POINTS = 1000.0
SHOWN_RESULTS = 20  # members whose tests' results a code group's page lists

TEMPLATES = Environment(loader=PackageLoader("autograder.review", "templates"),
                        autoescape=select_autoescape(default=True), trim_blocks=True,
                        lstrip_blocks=True)  # fmt: skip


class ReviewApp:
    """The pages of one lab's review, over a `LabReview` and behind a `Gate`."""

    def __init__(self, review: LabReview, gate: Gate):
        self.review = review
        self.gate = gate

    # ----------------------------------------------------------------- plumbing

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> Response:
        session: Session | None = getattr(request.state, "session", None)
        values |= {"lab": self.review.lab, "anonymous": self.review.anonymous,
                   "ta": session.ta if session else "", "logins": bool(self.gate.logins),
                   "csrf": self.gate.csrf(session) if session else "", "csrf_field": CSRF_FIELD}
        return HTMLResponse(TEMPLATES.get_template(template).render(**values), status_code=status)

    async def form(self, request: Request) -> Any:
        """The form of a state-changing request, refused (403) unless it carries the session's
        CSRF token and, when the browser says where it comes from, comes from this app."""
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host')}":
            raise HTTPException(403, "refused: a request from another site")
        if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
            raise HTTPException(403, "refused: a request from another site")
        form = await request.form()
        if not self.gate.csrf_matches(request.state.session, form.get(CSRF_FIELD)):
            raise HTTPException(403, "refused: the form's security token is missing or stale; "
                                "reload the page")  # fmt: skip
        return form

    def question_or_404(self, number: int) -> ReviewQuestion:
        question = self.review.question(number)
        if question is None:
            raise HTTPException(404, f"no question {number} in {self.review.lab.id}")
        return question

    def conflict(self, request: Request, message: str, back: str) -> Response:
        return self.page(request, "conflict.html", status=409, message=message, back=back)

    # ----------------------------------------------------------------- pages

    async def index(self, request: Request) -> Response:
        self.review.refresh()
        rows = [(question, self.review.progress(question)) for question in self.review.questions]
        return self.page(request, "index.html", rows=rows, students=len(self.review.currents))

    async def question_page(self, request: Request) -> Response:
        question = self.question_or_404(request.path_params["number"])
        groups = self.review.groups(question)
        points = self.review.item_points(question)
        rubric = self.review.manual.rubric(question.name)
        uses = {item.id: self.review.manual.uses(item.id) for item in rubric}
        rescored = _int(request.query_params.get("rescored"))
        changed = _int(request.query_params.get("item"))
        texts = self.review.manual.answer_texts(question.name)
        rows = [(group, self.review.score(question, group.members[0], points),
                 _preview(texts.get((group.members[0].student, group.members[0].sha256))))
                for group in groups]  # fmt: skip
        return self.page(request, "question.html", question=question, rows=rows, rubric=rubric,
                         uses=uses, progress=self.review.progress(question, groups),
                         rescored=rescored, changed=changed,
                         model=render_markdown(question.written.model_answer)
                         if question.written else None)  # fmt: skip

    async def next_page(self, request: Request) -> Response:
        question = self.question_or_404(request.path_params["number"])
        group = self.review.next_group(question, request.query_params.get("after"))
        if group is None:
            return RedirectResponse(f"/q/{question.index}?done=1", 303)
        return RedirectResponse(f"/q/{question.index}/g/{group.key}", 303)

    def _group(self, question: ReviewQuestion, key: str) -> tuple[Group, list[Group]]:
        groups = self.review.groups(question)
        group = next((g for g in groups if g.key == key), None)
        if group is None:
            raise HTTPException(404, "no such answer group (the answers changed?): go back to "
                                "the question")  # fmt: skip
        return group, groups

    def _single(self, question: ReviewQuestion, token: str) -> tuple[Group, list[Group]]:
        student = self.review.by_token.get(token)
        groups = self.review.groups(question)
        for group in groups:
            for member in group.members:
                if member.student == student:
                    return Group(group.key, group.digest, group.number, [member]), groups
        raise HTTPException(404, "no such student in this lab's gradebook")

    async def group_page(self, request: Request) -> Response:
        question = self.question_or_404(request.path_params["number"])
        group, groups = self._group(question, request.path_params["key"])
        return self.answer_page(request, question, group, groups, single=False)

    async def single_page(self, request: Request) -> Response:
        question = self.question_or_404(request.path_params["number"])
        group, groups = self._single(question, request.path_params["token"])
        return self.answer_page(request, question, group, groups, single=True)

    def answer_page(self, request: Request, question: ReviewQuestion, group: Group,
                    groups: list[Group], single: bool) -> Response:  # fmt: skip
        first = group.members[0]
        answer = self.review.manual.answer(first.student, first.sha256, question.name)
        rubric = self.review.manual.rubric(question.name) if question.kind == "written" else []
        points = {item.id: item.points for item in rubric}
        applied = {item.id: sum(item.id in (m.grade.item_ids if m.grade else ())
                                for m in group.members) for item in rubric}  # fmt: skip
        scores = {m.student: self.review.score(question, m, points) for m in group.members}
        earlier = [(m, self._earlier(question, m)) for m in group.members if m.status == "review"]
        shown = answer.text if answer else ""
        return self.page(
            request, "answer.html", question=question, group=group, groups=groups,
            single=single, answer=answer,
            rendered=render_markdown(shown, answer.images) if question.kind == "written"
            and answer else None,
            rubric=rubric, applied=applied, scores=scores, common=_common(scores),
            earlier=earlier, progress=self.review.progress(question, groups),
            action=(f"/q/{question.index}/s/{first.token}/grade" if single
                    else f"/q/{question.index}/g/{group.key}/grade"),
            shown_members=group.members[:SHOWN_RESULTS],
            adjustment=_common({m.student: m.grade.adjustment if m.grade else None
                                for m in group.members}),
            comment=_common({m.student: m.grade.comment if m.grade else ""
                             for m in group.members}) or "",
            model=render_markdown(question.written.model_answer) if question.written else None,
        )  # fmt: skip

    def _earlier(self, question: ReviewQuestion, member: Member) -> dict:
        """A grade made for an earlier notebook: by whom, when, and whether the answer was the
        same then."""
        then = self.review.manual.answer(member.student, member.grade.sha256, question.name)
        now = self.review.manual.answer(member.student, member.sha256, question.name)
        same = then is not None and now is not None and then.digest == now.digest
        return {"grade": member.grade, "same": same,
                "then": render_markdown(then.text, then.images)
                if then is not None and not same and question.kind == "written" else None}

    # ----------------------------------------------------------------- actions

    async def grade(self, request: Request) -> Response:
        form = await self.form(request)
        question = self.question_or_404(request.path_params["number"])
        single = "token" in request.path_params
        if single:
            group, _ = self._single(question, request.path_params["token"])
            back = f"/q/{question.index}/s/{request.path_params['token']}"
        else:
            group, _ = self._group(question, request.path_params["key"])
            back = f"/q/{question.index}/g/{group.key}"
        if form.get("state") != group.state():
            return self.conflict(request, "another TA changed the grades of these answers (or "
                                 "a new notebook arrived) while you had them open; nothing was "
                                 "changed", back)  # fmt: skip
        change = self._change(question, form)
        try:
            self.review.manual.change(question.name, [m.target for m in group.members], change,
                                      request.state.session.ta)  # fmt: skip
        except GradeConflict as conflict:
            return self.conflict(request, str(conflict), back)
        return RedirectResponse(back, 303)

    def _change(self, question: ReviewQuestion, form: Any) -> Change:
        action = form.get("action")
        if action == "toggle" and question.kind == "written":
            item = _int(form.get("item"))
            if item not in self.review.item_points(question):
                raise HTTPException(400, "no such rubric item for this question")
            return Change(toggle_item=item)
        if action == "adjust" and question.kind == "written":
            adjustment = _number(form.get("adjustment") or "0", question.possible, "adjustment")
            return Change(adjustment=adjustment, comment=str(form.get("comment") or "").strip())
        if action == "override" and question.kind == "code":
            points = _number(form.get("points"), question.possible, "points", low=0.0)
            reason = str(form.get("reason") or "").strip()
            if not reason:
                raise HTTPException(400, "an override needs a reason (the student reads it)")
            return Change(override_points=points, reason=reason)
        if action == "clear":
            return Change(clear=True)
        if action == "confirm":
            return Change(confirm=True)
        raise HTTPException(400, f"unknown action {action!r} for this question")

    async def add_item(self, request: Request) -> Response:
        form = await self.form(request)
        question = self.question_or_404(request.path_params["number"])
        if question.kind != "written":
            raise HTTPException(400, "rubrics are for written questions")
        points = _number(form.get("points"), MAX_ITEM_POINTS, "points", low=-MAX_ITEM_POINTS)
        label = str(form.get("text") or "").strip()
        if not label:
            raise HTTPException(400, "a rubric item needs a text (the student reads it)")
        self.review.manual.add_item(question.name, points, label, request.state.session.ta)
        return RedirectResponse(f"/q/{question.index}", 303)

    async def edit_item(self, request: Request) -> Response:
        form = await self.form(request)
        question = self.question_or_404(request.path_params["number"])
        item = request.path_params["item"]
        if item not in self.review.item_points(question):
            raise HTTPException(404, "no such rubric item for this question (removed?)")
        remove = form.get("action") == "remove"
        points = 0.0 if remove else _number(form.get("points"), MAX_ITEM_POINTS, "points",
                                            low=-MAX_ITEM_POINTS)  # fmt: skip
        label = str(form.get("text") or "").strip()
        if not remove and not label:
            raise HTTPException(400, "a rubric item needs a text (the student reads it)")
        try:
            rescored = self.review.manual.edit_item(item, _int(form.get("version")) or 0, points,
                                                    label, request.state.session.ta, remove)
        except GradeConflict as conflict:
            return self.conflict(request, str(conflict), f"/q/{question.index}")
        return RedirectResponse(f"/q/{question.index}?rescored={rescored}&item={item}", 303)

    # ----------------------------------------------------------------- logins

    async def login_page(self, request: Request) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
        response = self.page(request, "login.html", login_csrf=self.gate.csrf(
            Session("", nonce)), failed=request.query_params.get("failed") == "1")
        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict")
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not self.gate.csrf_matches(Session("", nonce), form.get(CSRF_FIELD)):
            raise HTTPException(403, "refused: reload the login page and try again")
        session = self.gate.login(str(form.get("name") or ""), str(form.get("password") or ""))
        if session is None:
            return RedirectResponse("/login?failed=1", 303)
        response = RedirectResponse("/", 303)
        response.set_cookie(SESSION_COOKIE, self.gate.cookie(session), httponly=True,
                            samesite="strict")  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE)
        return response

    async def logout(self, request: Request) -> Response:
        await self.form(request)
        response = RedirectResponse("/login" if self.gate.logins else "/", 303)
        response.delete_cookie(SESSION_COOKIE)
        return response


def _int(text: Any) -> int | None:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


def _number(text: Any, high: float, what: str, low: float | None = None) -> float:
    """A number from a form, finite and within [low (default -high), high], else 400."""
    low = -high if low is None else low
    try:
        value = float(str(text))
    except (TypeError, ValueError):
        raise HTTPException(400, f"{what}: {str(text)[:40]!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise HTTPException(400, f"{what}: {value:g} is outside {low:g} to {high:g}")
    return value


def _common(values: dict[str, Any]) -> Any:
    """The value all members share, or None when they differ."""
    distinct = set(values.values())
    return distinct.pop() if len(distinct) == 1 else None


def _preview(answer: str | None) -> str:
    if answer is None:
        return "(answer not kept: graded before answers were kept; grade again with --force)"
    text = " ".join(answer.split())
    return (text[:140] + " …" if len(text) > 140 else text) or "(no answer)"


def _refused(gate: Gate, reason: str) -> Response:
    return HTMLResponse(TEMPLATES.get_template("refused.html").render(reason=reason,
                                                                      logins=bool(gate.logins)),
                        status_code=403, headers=SECURITY_HEADERS)  # fmt: skip


def build_app(review: LabReview, gate: Gate, allowed_hosts: list[str]) -> Starlette:
    pages = ReviewApp(review, gate)
    routes = [
        Route("/", pages.index),
        Route("/q/{number:int}", pages.question_page),
        Route("/q/{number:int}/next", pages.next_page),
        Route("/q/{number:int}/g/{key}", pages.group_page),
        Route("/q/{number:int}/s/{token}", pages.single_page),
        Route("/q/{number:int}/g/{key}/grade", pages.grade, methods=["POST"]),
        Route("/q/{number:int}/s/{token}/grade", pages.grade, methods=["POST"]),
        Route("/q/{number:int}/rubric", pages.add_item, methods=["POST"]),
        Route("/q/{number:int}/rubric/{item:int}", pages.edit_item, methods=["POST"]),
        Route("/login", pages.login_page),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def errors(request: Request, error: Exception) -> Response:
        status = getattr(error, "status_code", 500)
        detail = getattr(error, "detail", "") or "something went wrong"
        return pages.page(request, "error.html", status=status, message=detail)

    async def authenticate(request: Request, call_next: Any) -> Response:
        """Every request: a valid session cookie, or the token (which starts a session)."""
        session = gate.session(request.cookies.get(SESSION_COOKIE))
        offered = request.query_params.get("token")
        header = request.headers.get("authorization", "")
        if session is None and header.lower().startswith("token "):
            session = gate.new_session(gate.ta) if gate.token_matches(header[6:].strip()) \
                else None
        if session is None and offered is not None:
            if not gate.token_matches(offered):
                return _refused(gate, "the token is wrong")
            url = request.url.remove_query_params("token")
            response = RedirectResponse(url.path + (f"?{url.query}" if url.query else ""), 303)
            response.set_cookie(SESSION_COOKIE, gate.cookie(gate.new_session(gate.ta)),
                                httponly=True, samesite="strict")  # fmt: skip
            response.headers.update(SECURITY_HEADERS)
            return response
        if session is None and not (gate.logins and request.url.path == "/login"):
            if gate.logins and request.method == "GET" and not request.url.path.startswith(
                    "/static/"):  # fmt: skip
                return RedirectResponse("/login", 303, headers=SECURITY_HEADERS)
            return _refused(gate, "no valid session")
        request.state.session = session
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    return Starlette(routes=routes, exception_handlers={HTTPException: errors},
                     middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts),
                                 Middleware(BaseHTTPMiddleware, dispatch=authenticate)])
