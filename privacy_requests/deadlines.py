"""Legal deadlines (DESIGN section 4) and the one rule of what is late. All dates are UTC.

A request is *open* until it is final (SUCCESS or REVOKED): a FAILURE still owes the end user
an answer. An open request is *overdue* once its deadline has passed (due_at < now; finishing
at due_at itself is on time) and *due soon* when its deadline is within the next 7 days. The
back office, the reminder emails and the pages all use these functions.
"""

import calendar
from datetime import datetime, timedelta
from typing import Literal

from django.db.models import Q

from privacy_requests.models import FINAL_STATUSES, Compliance, PrivacyRequest

CCPA_PERIOD = timedelta(days=45)
DUE_SOON = timedelta(days=7)

DeadlineState = Literal["overdue", "due_soon", ""]


def add_calendar_months(moment: datetime, months: int) -> datetime:
    """Same day `months` later, clamped to the month's end: 31 Jan + 1 month = 28/29 Feb."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_at_for(*, compliance: str, received_at: datetime) -> datetime:
    if compliance == Compliance.GDPR:
        return add_calendar_months(received_at, 1)
    return received_at + CCPA_PERIOD


def extended_due_at_for(*, compliance: str, received_at: datetime) -> datetime:
    """GDPR Art. 12(3): two further months, i.e. three from receipt; CCPA: 45 more days."""
    if compliance == Compliance.GDPR:
        return add_calendar_months(received_at, 3)
    return received_at + 2 * CCPA_PERIOD


def ccpa_window_start(*, received_at: datetime) -> datetime:
    """CCPA exports cover received_at − 12 calendar months ≤ time ≤ received_at."""
    return add_calendar_months(received_at, -12)


def open_q() -> Q:
    return ~Q(status__in=FINAL_STATUSES)


def overdue_q(now: datetime) -> Q:
    return open_q() & Q(due_at__lt=now)


def due_soon_q(now: datetime) -> Q:
    return open_q() & Q(due_at__gte=now, due_at__lte=now + DUE_SOON)


def due_or_overdue_q(now: datetime) -> Q:
    """Open and due within the next 7 days or already overdue: what the reminders cover."""
    return open_q() & Q(due_at__lte=now + DUE_SOON)


def deadline_state(request: PrivacyRequest, *, now: datetime) -> DeadlineState:
    """The same rule as the Q objects above, for one request."""
    if request.status in FINAL_STATUSES:
        return ""
    if request.due_at < now:
        return "overdue"
    if request.due_at <= now + DUE_SOON:
        return "due_soon"
    return ""
