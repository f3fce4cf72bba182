"""`{{ id|distinct_id }}`: a distinct_id as the pages show it, verbatim. The <code> keeps its
spaces (white-space: pre-wrap in site.css); one that begins or ends with a space is marked, and
the style quotes and tints it, so " padded " never looks like "padded"."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from privacy_requests.web.presenters import distinct_id_has_edge_space

register = template.Library()


@register.filter
def distinct_id(value: str) -> SafeString:
    if distinct_id_has_edge_space(value):
        return format_html(
            '<code class="distinct-id spaced" title="This id begins or ends with a space">{}'
            "</code>",
            value,
        )
    return format_html('<code class="distinct-id">{}</code>', value)
