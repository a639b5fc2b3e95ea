"""A refused work-order action in the reader's language, for pages.

The workflow raises :class:`~webapp.orders.errors.WorkflowError` with an
English message: that is the JSON API's contract with integrators (and its
tests), and it stays as it is. Pages must not show it: the phone and office
pages pass the error through :func:`page_text`, which knows every message
the workflow, the engine and dispatch planning raise (matched on the English
text, the values inside kept) and falls back to a general sentence in the
reader's language for one it does not know — never the English.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.orders.errors import WorkflowError
from webapp.platform import labels
from webapp.platform.clock import local

_FIELD_NAMES = {"lat": _l("latitude"), "lon": _l("longitude")}


def _when(iso: str) -> str:
    try:
        return local(datetime.fromisoformat(iso)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _field(name: str) -> str:
    return str(_FIELD_NAMES.get(name, name))


# (pattern on the English message, its words with the pattern's groups).
_PATTERNS: list[tuple[re.Pattern[str], Callable[..., str]]] = [
    (r"cannot (?P<action>[\w-]+) order (?P<number>\S+): it is (?P<state>\w+) \(allowed from: .*\)",
     lambda action, number, state: _("Order %(number)s is %(state)s now: the step “%(action)s” is not possible.",
                                     number=number, action=labels.action_label(action),
                                     state=labels.state_label(state))),
    (r"cannot (?P<action>[\w-]+) order (?P<number>\S+) as (?P<unit>.+): that participant is (?P<state>\w+)",
     lambda action, number, unit, state: _("%(unit)s cannot do this on order %(number)s now: its part is %(state)s.",
                                           unit=unit, number=number, state=labels.state_label(state))),
    (r"your unit does not take part in order (?P<number>\S+)",
     lambda number: _("Your unit does not take part in order %(number)s.", number=number)),
    (r"(?P<role>\w+) may not (?P<action>[\w-]+) order (?P<number>\S+)",
     lambda role, action, number: _("Your role (%(role)s) may not do this on order %(number)s.",
                                    role=labels.user_role_label(role), number=number)),
    (r"order (?P<number>\S+) changed since the form was loaded.*",
     lambda number: _("Order %(number)s changed after you opened it. Check what changed, then try again.",
                      number=number)),
    (r"unknown unit '(?P<code>.*)'", lambda code: _("There is no unit %(code)s.", code=code)),
    (r"a return needs a reason", lambda: _("Give the reason for returning the order.")),
    (r"the duty lead ruled (?P<unit>.+)'s return unjustified; the order must be handled",
     lambda unit: _("The duty lead ruled the return of %(unit)s unjustified: the order must be handled.", unit=unit)),
    (r"justified \(true or false\) is required", lambda: _("Choose whether the return was justified.")),
    (r"order (?P<number>\S+) has no return to decide",
     lambda number: _("Order %(number)s has no return to decide.", number=number)),
    (r"(?P<unit>.+) returned the order a second time: the duty lead must decide the dispute first",
     lambda unit: _("%(unit)s returned the order a second time: the duty lead must decide the dispute first.",
                    unit=unit)),
    (r"check-in needs (?P<name>\w+) \(the phone's GPS position\)",
     lambda name: _("The check-in needs the phone's GPS position (%(name)s is missing): allow location access "
                    "and locate again.", name=_field(name))),
    (r"(?P<name>lat|lon) must be a number",
     lambda name: _("The GPS position is not valid (%(name)s is not a number): locate again.", name=_field(name))),
    (r"(?P<name>lat|lon) must be between (?P<low>\S+) and (?P<high>\S+)",
     lambda name, low, high: _("The GPS position is not valid (%(name)s must be between %(low)s and %(high)s).",
                               name=_field(name), low=low, high=high)),
    (r"accuracy_m must be a number", lambda: _("The GPS accuracy is not a number: locate again.")),
    (r"(?P<unit>.+) already checked in at (?P<when>\S+)",
     lambda unit, when: _("%(unit)s already checked in at %(when)s.", unit=unit, when=_when(when))),
    (r"forward needs the unit to forward to", lambda: _("Choose the unit to hand the order to.")),
    (r"cannot forward to (?P<unit>.+): choose a township or a department",
     lambda unit: _("The order cannot be handed to %(unit)s: choose a township or a department.", unit=unit)),
    (r"(?P<unit>.+) already takes part in order (?P<number>\S+)",
     lambda unit, number: _("%(unit)s already takes part in order %(number)s.", unit=unit, number=number)),
    (r"client_key was already used for another order",
     lambda: _("This upload was already sent for another order; reload the page and send the feedback again.")),
    (r"result must be one of .*", lambda: _("Choose the result of the handling.")),
    (r"feedback needs at least one photo", lambda: _("Add at least one photo of the result.")),
    (r"rework needs a reason", lambda: _("Give the reason for rework.")),
    (r"until must be an ISO 8601 date-time.*", lambda: _("The new deadline is not a valid date and time.")),
    (r"an extension needs a reason", lambda: _("Give the reason for the extension.")),
    (r"stage must be one of .*", lambda: _("Choose the step to extend.")),
    (r"an extension needs until \(a date-time\) or hours", lambda: _("Give the new deadline or the extra hours.")),
    (r"the (?P<stage>\w+) stage is already done",
     lambda stage: _("The step %(stage)s is already done.", stage=labels.stage_label(stage))),
    (r"an extension request is already waiting for a decision",
     lambda: _("An extension request is already waiting for a decision.")),
    (r"hours must be a number", lambda: _("The extra hours must be a number.")),
    (r"the new deadline must be after the current one \((?P<when>\S+)\)",
     lambda when: _("The new deadline must be after the current one (%(when)s).", when=_when(when))),
    (r"order (?P<number>\S+) has no pending extension request",
     lambda number: _("Order %(number)s has no extension request waiting.", number=number)),
    (r"supervision needs a note", lambda: _("Write a supervision note.")),
    (r"(?:domain \S+|this domain) does not allow an emergency response",
     lambda: _("This domain does not allow an emergency response.")),
    (r"order (?P<number>\S+) is already under emergency response",
     lambda number: _("Order %(number)s is already under emergency response.", number=number)),
    (r"reopening needs a reason", lambda: _("Give the reason for reopening.")),
    (r"order (?P<number>\S+) was closed more than (?P<days>\d+) days ago; raise a new alert instead",
     lambda number, days: _("Order %(number)s was closed more than %(days)s days ago: raise a new alert instead.",
                            number=number, days=days)),
    (r"case transfer needs the case number", lambda: _("Enter the case number.")),
    (r"order (?P<number>\S+) was already transferred as case (?P<case>.+)",
     lambda number, case: _("Order %(number)s was already transferred as case %(case)s.", number=number,
                            case=case)),
    (r"result must be pass or fail", lambda: _("Choose pass or fail.")),
    (r"a failed spot check needs a note", lambda: _("Write a note on the spot check.")),
    (r"order (?P<number>\S+) was already spot-checked \((?P<result>\w+)\)",
     lambda number, result: _("Order %(number)s was already spot-checked (%(result)s).", number=number,
                              result=labels.result_name_zh(result))),
    # dispatch planning
    (r"working_group must be a number 1–5", lambda: _("Choose a working group from 1 to 5.")),
    (r"there is no working group (?P<n>\S+)", lambda n: _("There is no working group %(n)s.", n=n)),
    (r"(?P<stage>\w+) clock: .*",
     lambda stage: _("The %(stage)s time is not valid: enter a time longer than zero, e.g. 10m, 4h or 3wd.",
                     stage=labels.stage_label(stage))),
    (r"basis must be natural or working", lambda: _("Choose natural time or working time.")),
    (r"priority must be one of .*", lambda: _("Choose a priority.")),
    (r"the lead must be a unit, not the office .*",
     lambda: _("The lead must be a unit; choose its handling offices separately.")),
    (r"(?P<office>\S+) is not an office of (?P<unit>\S+)",
     lambda office, unit: _("A chosen office does not belong to the lead unit.")),
    (r"unknown township '(?P<code>.*)'", lambda code: _("There is no township %(code)s.", code=code)),
    (r"the (?P<stage>\w+) clock is missing",
     lambda stage: _("Enter the %(stage)s time.", stage=labels.stage_label(stage))),
    (r"a title is required", lambda: _("Enter a title.")),
    (r"alert #(?P<id>\d+) is (?P<status>\w+): confirm it before dispatching",
     lambda id, status: _("Confirm the alert before dispatching it.")),
    (r"alert #(?P<id>\d+) was already dispatched(?: as (?P<number>\S+))?",
     lambda id, number=None: _("This alert was already dispatched.")),
]
_COMPILED = [(re.compile(pattern + r"\Z", re.S), words) for pattern, words in _PATTERNS]


def _general(exc: WorkflowError) -> str:
    if exc.status == 403:
        return _("Your account may not take this action on this order.")
    if exc.status == 404:
        return _("This record does not exist, or was removed.")
    if exc.status == 409:
        return _("The order changed or is in another state now. Reload the page and try again.")
    if exc.status == 413:
        return _("The upload is too large.")
    return _("The input was not accepted. Check the fields and try again.")


# Image checks (webapp/alerts/evidence.py) already speak the reader's language.
_WRITTEN_FOR_PEOPLE = {"empty_file", "image_too_large", "image_too_many_pixels", "not_an_image",
                       "unsupported_image"}


def page_text(exc: WorkflowError | Any) -> str:
    """What a page says about a refused action."""
    message = getattr(exc, "message", "") or ""
    if getattr(exc, "code", None) in _WRITTEN_FOR_PEOPLE:
        return message
    for pattern, words in _COMPILED:
        found = pattern.match(message.strip())
        if found:
            return words(**{k: v for k, v in found.groupdict().items() if v is not None})
    # Several problems joined by "; " (dispatch's field checks): each in words.
    if "; " in message:
        parts = [page_text(WorkflowError(exc.status, exc.code, part)) for part in message.split("; ")]
        return " ".join(dict.fromkeys(parts))
    # Messages already written for people (image checks, form checks) are in
    # the reader's language; only a bare English sentence is replaced.
    if message and not message.isascii():
        return message
    return _general(exc)
