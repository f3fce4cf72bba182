"""Find an end user (issue 18): search a project by a profile property's value or a distinct_id
prefix, see each person found with the ids a request would reach, and start an export or a
deletion for them. Owners and admins only (privacy_page); each search is audited by the
service. A POST, CSRF-protected: a search reads personal data and writes an audit entry, which
no link from another site may make an owner's browser do."""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.actors import web_actor
from accounts.models import Organization
from privacy_requests.errors import PrivacyRequestError
from privacy_requests.services.end_user_lookup import end_user_lookup
from privacy_requests.web.forms import EndUserLookupForm
from privacy_requests.web.preview_rows import provenance_text
from privacy_requests.web.views.access import organization_projects, privacy_page
from projects.end_user_lookup import (
    LOOKUP_LIMIT,
    FoundPerson,
    LookupRefused,
    LookupResult,
    lookup_query_make,
)

_ROLE_WORDS = {
    "matched": "found",
    "linked": "linked",
    "refused": "refused link",
    "unverified": "unverified link",
}


@never_cache
@privacy_page()
@require_http_methods(["GET", "POST"])
def end_user_lookup_page(request: HttpRequest, organization: Organization) -> HttpResponse:
    projects = organization_projects(organization)
    if request.method == "POST":
        form = EndUserLookupForm(request.POST, projects=projects)
    else:
        form = EndUserLookupForm(projects=projects)
    result = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            query = lookup_query_make(property_name=data["property"], value=data["value"])
            result = end_user_lookup(actor=web_actor(request), project=data["project"], query=query)
        except LookupRefused as exc:
            field = "property_name" if exc.field == "property" else "value"
            form.add_error(field, str(exc))
        except PrivacyRequestError as exc:
            form.add_error(None, str(exc))
    return render(
        request,
        "privacy_requests/end_user_lookup.html",
        {
            "organization": organization,
            "form": form,
            "has_projects": projects.exists(),
            "result": result,
            "people": _people_shown(organization, result) if result else [],
            "limit": LOOKUP_LIMIT,
        },
    )


def _people_shown(organization: Organization, result: LookupResult) -> list[dict]:
    project_id = result.project_id
    return [
        {
            "person": person,
            "rows": [
                {
                    "found": found,
                    "role": _ROLE_WORDS.get(found.role, found.role),
                    "how": "; ".join(provenance_text(how) for how in found.evidence)
                    if found.evidence
                    else provenance_text(found.how),
                }
                for found in person.ids
            ],
            "export_url": _start_url(organization, "export_new", project_id, person),
            "deletion_url": _start_url(organization, "deletion_new", project_id, person),
        }
        for person in result.people
    ]


def _start_url(organization: Organization, name: str, project_id: int, person: FoundPerson) -> str:
    """The request form with the project and the person's id filled in: the cluster's root
    when the lookup matched it, else its first matched id. The preview that follows lists every
    id a request for it reaches."""
    matched = person.matched_ids
    distinct_id = person.root if person.root in matched else matched[0]
    query = urlencode({"project": project_id, "distinct_id": distinct_id})
    return f"{reverse(f'privacy_web:{name}', args=[organization.id])}?{query}"
