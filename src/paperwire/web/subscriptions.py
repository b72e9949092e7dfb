"""Subscribing to the digest, and the links its emails hold: confirm, manage, unsubscribe, feedback,
clicks and a private feed.

Every page works without JavaScript. A link from an email opens a page with a button: mail scanners
that fetch links must not use up a single-use link. Every state change is a POST with a CSRF token,
except the one-click unsubscribe (RFC 8058: mail providers POST to it without cookies), whose signed
link is its own authentication. Answers never tell whether an address is subscribed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from paperwire.digest import subscribers
from paperwire.digest.subscribers import EMAIL, Preferences
from paperwire.errors import InputError
from paperwire.web.context import Web, get_web
from paperwire.web.feeds import atom, paper_entry
from paperwire.web.pages import render, render_with_form
from paperwire.web.security import CSRF_FIELD, local_path
from paperwire.web.views import paper_path

router = APIRouter(include_in_schema=False)
WebDep = Annotated[Web, Depends(get_web)]
LinkToken = Annotated[str, Query(alias="token", max_length=2000)]  # a signed link from an email
LinkPaper = Annotated[str, Query(alias="paper", max_length=300)]  # a paper of that email
FormToken = Annotated[str, Form(max_length=2000)]
CsrfToken = Annotated[str | None, Form(alias=CSRF_FIELD, max_length=200)]
CHECK_INBOX = (
    "If that address can get the digest, an email is on its way to it: a link to confirm a new "
    "subscription, or a link to manage one that exists already. Nothing is sent until it is confirmed."
)
COMMON_ZONES = (
    "UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Moscow", "Africa/Lagos",
    "Africa/Nairobi", "Asia/Kolkata", "Asia/Shanghai", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul",
    "Australia/Sydney", "Pacific/Auckland", "America/Sao_Paulo", "America/New_York",
    "America/Chicago", "America/Denver", "America/Los_Angeles",
)  # fmt: skip


@dataclass(frozen=True)
class PreferenceFields:
    """The preference fields of the subscribe and manage forms, as typed."""

    topics: str
    categories: str
    frequency: str
    send_hour: str
    timezone: str
    max_papers: str
    empty_note: bool

    @classmethod
    def of(cls, prefs: Preferences) -> PreferenceFields:
        return cls(
            "\n".join(prefs.topics), " ".join(prefs.categories), prefs.frequency, str(prefs.send_hour),
            prefs.timezone, str(prefs.max_papers), prefs.empty_note,
        )  # fmt: skip

    def parse(self, has_liked_papers: bool = False) -> tuple[Preferences, dict[str, str]]:
        """The preferences, and field name -> what to fix (empty when they are usable)."""
        prefs = Preferences.parse(
            topics=self.topics, categories=self.categories, frequency=self.frequency,
            send_hour=_number(self.send_hour), timezone=self.timezone.strip(),
            max_papers=_number(self.max_papers), empty_note=self.empty_note,
        )  # fmt: skip
        return prefs, prefs.problems(has_liked_papers)


def _number(text: str) -> int:
    """The whole number typed, else -1: out of every range, so Preferences.problems says what to enter."""
    text = text.strip()
    return int(text) if text.isdecimal() and len(text) < 6 else -1


DEFAULTS = PreferenceFields.of(Preferences())


def preference_fields(
    topics: Annotated[str, Form(max_length=2500)] = "",
    categories: Annotated[str, Form(max_length=500)] = "",
    frequency: Annotated[str, Form(max_length=20)] = DEFAULTS.frequency,
    send_hour: Annotated[str, Form(max_length=20)] = DEFAULTS.send_hour,
    timezone: Annotated[str, Form(max_length=100)] = DEFAULTS.timezone,
    max_papers: Annotated[str, Form(max_length=20)] = DEFAULTS.max_papers,
    empty_note: Annotated[bool, Form()] = False,
) -> PreferenceFields:
    """FastAPI dependency: the preference fields a form posted (the defaults for those it left out)."""
    return PreferenceFields(topics, categories, frequency, send_hour, timezone, max_papers, empty_note)


Fields = Annotated[PreferenceFields, Depends(preference_fields)]


def _message(
    web: Web, request: Request, heading: str, *lines: str, links: Sequence[tuple[str, str]] = ()
) -> Response:
    """A page that says what happened and what comes next."""
    return render(web, request, "message.html", {"heading": heading, "lines": lines, "links": links})


def _button(
    web: Web, request: Request, heading: str, lead: str, action: str, button: str, token: str = ""
) -> Response:
    """The page a link from an email opens: one button that POSTs (with the token, when given)."""
    context = {"heading": heading, "lead": lead, "action": action, "button": button, "token": token}
    return _no_store(render_with_form(web, request, "link_action.html", context))


def _no_store(response: Response) -> Response:
    """For pages holding a link's token: no cache keeps them."""
    response.headers["Cache-Control"] = "no-store"
    return response


# -- subscribe ----------------------------------------------------------------------------------------


def _subscribe_page(
    web: Web,
    request: Request,
    email: str,
    fields: PreferenceFields,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    context = {"email": email, "fields": fields, "errors": errors, "zones": COMMON_ZONES}
    return render_with_form(web, request, "subscribe.html", context, status)


@router.get("/subscribe")
def subscribe_form(
    request: Request, web: WebDep, topics: Annotated[str, Query(max_length=500)] = ""
) -> Response:
    """The subscription form, its topics filled in from a search's "Get these by email" link."""
    fields = replace(DEFAULTS, topics=topics.strip())
    return _subscribe_page(web, request, "", fields, {})


@router.post("/subscribe")
def subscribe(
    request: Request,
    web: WebDep,
    background: BackgroundTasks,
    fields: Fields,
    email: Annotated[str, Form(max_length=320)] = "",
    csrf_token: CsrfToken = None,
) -> Response:
    """Queue a confirmation link (or, for an address subscribed already, a manage link) and send it
    after the response; the page is the same either way."""
    web.check_csrf(request, csrf_token)
    web.limit_search(request, scope="subscribe")
    prefs, errors = fields.parse()
    address = email.strip()
    if not EMAIL.match(address):
        errors = {"email": "Enter an email address such as ada@example.org.", **errors}
    if errors:
        return _subscribe_page(web, request, address, fields, errors, status=422)
    background.add_task(web.send, web.digest(lambda digests: digests.subscribe(address, prefs)))
    return _message(web, request, "Check your inbox", CHECK_INBOX, links=[("/", "Back to paperwire")])


@router.get("/confirm")
def confirm_page(request: Request, web: WebDep, token: LinkToken = "") -> Response:
    """The confirmation link: a button, so that a mail scanner fetching the link confirms nothing."""
    web.digests.check(token, "confirm")  # a bad link fails here, before the button
    return _button(
        web, request, "Confirm your subscription", "Press the button to start your paperwire digest.",
        "/confirm", "Confirm", token,
    )  # fmt: skip


@router.post("/confirm")
def confirm(request: Request, web: WebDep, token: FormToken = "", csrf_token: CsrfToken = None) -> Response:
    web.check_csrf(request, csrf_token)
    row = web.digest(lambda digests: digests.confirm(token))
    return _message(
        web, request, "You are subscribed",
        f"Your {row['frequency']} digest will be sent to {row['email']} at {row['send_hour']:02d}:00 "
        f"({row['timezone']}) when there are new papers on your topics.",
        "Every digest has a link to change your topics or to unsubscribe with one click.",
        links=[("/manage", "Manage your subscription"), ("/search", "Search papers")],
    )  # fmt: skip


# -- manage ---------------------------------------------------------------------------------------


@router.get("/manage")
def manage_request_form(request: Request, web: WebDep) -> Response:
    """Ask for a link to manage a subscription: the email is the proof of who you are."""
    return render_with_form(web, request, "manage_request.html", {"email": "", "errors": {}})


@router.post("/manage/link")
def manage_link(
    request: Request,
    web: WebDep,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=320)] = "",
    csrf_token: CsrfToken = None,
) -> Response:
    """Email a manage link to a subscribed address; the same answer for any other."""
    web.check_csrf(request, csrf_token)
    web.limit_search(request, scope="subscribe")
    background.add_task(web.send, web.digest(lambda digests: digests.request_manage_link(email)))
    return _message(
        web, request, "Check your inbox",
        "If that address is subscribed, a link to manage its subscription is on its way. "
        "The link works once, for 24 hours.",
        links=[("/", "Back to paperwire")],
    )  # fmt: skip


@router.get("/manage/open")
def manage_open_page(request: Request, web: WebDep, token: LinkToken = "") -> Response:
    web.digests.check(token, "manage")
    return _button(
        web, request, "Manage your subscription", "Press the button to open your subscription settings.",
        "/manage/open", "Open my settings", token,
    )  # fmt: skip


def _manage_page(
    web: Web,
    request: Request,
    session: str,
    row: dict[str, Any],
    fields: PreferenceFields | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    """The manage form: preferences, the private feed, and deleting everything."""
    feed = web.digests.url("/digest/feed", token=web.digests.feed_token(row["id"]))
    context = {
        "session": session, "row": row, "fields": fields or PreferenceFields.of(subscribers.preferences(row)),
        "errors": errors or {}, "saved": saved, "feed_url": feed, "zones": COMMON_ZONES,
    }  # fmt: skip
    return _no_store(render_with_form(web, request, "manage.html", context, status))


@router.post("/manage/open")
def manage_open(
    request: Request, web: WebDep, token: FormToken = "", csrf_token: CsrfToken = None
) -> Response:
    """Use a magic link: the manage form, with a session token for its forms (valid for an hour)."""
    web.check_csrf(request, csrf_token)
    row, session = web.digest(lambda digests: digests.open_manage(token))
    return _manage_page(web, request, session, row)


@router.post("/manage")
def manage(
    request: Request,
    web: WebDep,
    fields: Fields,
    session: FormToken = "",
    csrf_token: CsrfToken = None,
) -> Response:
    """Save new preferences (which also resubscribes an address that had unsubscribed)."""
    web.check_csrf(request, csrf_token)
    row = web.digest(lambda digests: digests.session(session))
    # liked papers may stand in for topics: the service knows, and says so when there are none
    prefs, errors = fields.parse(has_liked_papers=True)
    if not errors:
        try:
            row = web.digest(lambda digests: digests.update(session, prefs))
        except InputError:
            errors = prefs.problems()
    if errors:
        return _manage_page(web, request, session, row, fields, errors, status=422)
    return _manage_page(web, request, session, row, saved=True)


@router.post("/manage/delete")
def delete(
    request: Request,
    web: WebDep,
    session: FormToken = "",
    confirm: Annotated[bool, Form()] = False,
    csrf_token: CsrfToken = None,
) -> Response:
    """Delete the subscription and everything kept about it, once the box saying so is ticked."""
    web.check_csrf(request, csrf_token)
    if not confirm:
        row = web.digest(lambda digests: digests.session(session))
        problem = {"confirm": "Tick the box to confirm that everything should be deleted."}
        return _manage_page(web, request, session, row, errors=problem, status=422)
    web.digest(lambda digests: digests.delete(session))
    return _message(
        web, request, "Subscription deleted",
        "Your subscription, its preferences, feedback and sent digests are deleted. No more email will "
        "come from this paperwire.",
        links=[("/subscribe", "Subscribe again"), ("/", "Back to paperwire")],
    )  # fmt: skip


# -- links in every digest ------------------------------------------------------------------------


@router.get("/unsubscribe")
def unsubscribe_page(request: Request, web: WebDep, token: LinkToken = "") -> Response:
    web.digests.check(token, "unsubscribe")
    return _button(
        web, request, "Unsubscribe",
        "Press the button to stop the digest. You can subscribe again at any time.",
        f"/unsubscribe?{urlencode({'token': token})}", "Unsubscribe",
    )  # fmt: skip


@router.post("/unsubscribe")
def unsubscribe(request: Request, web: WebDep, token: LinkToken = "") -> Response:
    """One click (RFC 8058): no CSRF token and no cookie, the signed link is the authentication."""
    row = web.digest(lambda digests: digests.unsubscribe(token))
    return _message(
        web, request, "You are unsubscribed",
        f"No more digests will be sent to {row['email']}.",
        "Changed your mind? Ask for a manage link and save your preferences to start again.",
        links=[("/manage", "Manage your subscription"), ("/", "Back to paperwire")],
    )  # fmt: skip


@router.get("/digest/feedback")
def feedback(
    request: Request, web: WebDep, token: LinkToken = "", paper_id: LinkPaper = "", label: int = 0
) -> Response:
    """A thumbs up or down from a digest: the next digests learn from it."""
    web.digest(lambda digests: digests.feedback(token, paper_id, label))
    verdict = "more papers like it" if label > 0 else "fewer papers like it"
    return _message(
        web, request, "Thank you", f"Noted: {verdict} in your next digests.",
        links=[(paper_path(paper_id), "Open the paper"), ("/", "Back to paperwire")],
    )  # fmt: skip


@router.get("/digest/click")
def click(web: WebDep, token: LinkToken = "", paper_id: LinkPaper = "") -> Response:
    """A paper link from a digest: counted for trending, then the paper's page (never another site)."""
    web.digest(lambda digests: digests.click(token, paper_id))
    return RedirectResponse(local_path(paper_path(paper_id)), status_code=303)


@router.get("/digest/feed")
def private_feed(request: Request, web: WebDep, token: LinkToken = "") -> Response:
    """A subscriber's picks among the last week's papers, as an Atom feed (the link is private)."""
    _row, picks = web.digest(lambda digests: digests.feed(token))
    response = atom(request, "paperwire: your digest's picks", [paper_entry(paper) for paper, _ in picks])
    response.headers["Cache-Control"] = "private"
    return response
