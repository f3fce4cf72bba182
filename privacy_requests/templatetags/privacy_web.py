from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from privacy_requests.deletions.future_collection import (
    FUTURE_COLLECTION,
    SDK_OPT_OUT,
    suppression_setting_path,
)
from privacy_requests.selectors import privacy_organizations_for_user
from privacy_requests.web.presenters import actor_in_words, distinct_id_has_edge_space

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


@register.filter
def distinct_id(value: str) -> SafeString:
    """A distinct_id as the pages show it, verbatim: the <code> keeps its spaces (white-space:
    pre-wrap in site.css); one that begins or ends with a space is marked, and the style quotes
    and tints it, so " padded " never looks like "padded"."""
    if distinct_id_has_edge_space(value):
        return format_html(
            '<code class="distinct-id spaced" title="This id begins or ends with a space">{}'
            "</code>",
            value,
        )
    return format_html('<code class="distinct-id">{}</code>', value)


@register.inclusion_tag("privacy_requests/_future_collection.html")
def future_collection_note(project) -> dict:
    """Issue 17, item 11: a deletion does not stop collection; where suppression is set."""
    return {
        "note": FUTURE_COLLECTION,
        "opt_out": SDK_OPT_OUT,
        "project": project,
        "suppression_url": suppression_setting_path(project.id),
    }


@register.filter
def actor_words(actor_text: str) -> str:
    """Who acted, in the words of a customer's page (presenters.actor_in_words)."""
    return actor_in_words(actor_text)
