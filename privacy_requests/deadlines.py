"""Legal deadlines (DESIGN section 4). All dates are UTC."""

import calendar
from datetime import datetime, timedelta

from privacy_requests.models import Compliance

CCPA_PERIOD = timedelta(days=45)


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
