"""The Content-Security-Policy middleware (django-csp's), with the one part of the site whose
templates we do not write: django-rq's queue dashboard under /admin/rq/ (staff only, behind the
back office's MFA).

Its pages start the admin's select-all checkboxes with one inline script, the same text in every
template, allowed there by its hash; and they put small inline stylesheets and style attributes
in most templates, allowed there as inline styles (no inline script). Everywhere else the
policy of settings.CONTENT_SECURITY_POLICY holds unchanged.
"""

from csp.middleware import CSPMiddleware, PolicyParts

RQ_DASHBOARD_PREFIX = "/admin/rq/"  # where config/urls.py mounts django_rq.urls
RQ_DASHBOARD_POLICY = {
    # `(function($) { ... $("tr input.action-select").actions(); ... })(django.jQuery);`
    "script-src": ["'sha256-1kZe1KRxelr3ptMPsod17Z6BDvbtm4WcufgsZGvsErM='"],
    "style-src": ["'unsafe-inline'"],
}


class SiteCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and request.path_info.startswith(RQ_DASHBOARD_PREFIX):
            parts.update = {**(parts.update or {}), **RQ_DASHBOARD_POLICY}
        return parts
