from django import template
from django.urls import reverse

from privacy_requests.selectors import privacy_organizations_for_user

register = template.Library()


@register.simple_tag(takes_context=True)
def privacy_nav_url(context) -> str:
    """Where the header's Data & Privacy link goes: "" for people who may not see privacy
    requests (no link), the organization's page when there is one, else a choice."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return ""
    ids = list(privacy_organizations_for_user(user=user).values_list("id", flat=True)[:2])
    if not ids:
        return ""
    if len(ids) == 1:
        return reverse("privacy_web:list", args=[ids[0]])
    return reverse("privacy_web:home")
