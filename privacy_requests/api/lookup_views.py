"""The end-user lookup of the API (issue 18, an addition to Mixpanel's GDPR API): the
distinct_ids of a project whose profile holds a property value, or that start with a prefix,
each person with the ids a request for them reaches. For the GDPR API's principals, with its
check order (401, 404, 403), its read rate limit and its error shape; every lookup is audited
like the page's (privacy_requests.services.end_user_lookup).

`GET` takes the parameters in the query string; `POST` takes the same names in a JSON body,
for clients that keep an email out of URLs (and out of whatever logs them)."""

from datetime import datetime
from http import HTTPStatus

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as drf
from rest_framework.response import Response

from privacy_requests.api import serializers
from privacy_requests.api.throttling import ReadRateThrottle
from privacy_requests.api.views import BODY_ERRORS, ERRORS, TOKEN_PARAMETER, GdprApiView
from privacy_requests.errors import InvalidRequest
from privacy_requests.services.end_user_lookup import end_user_lookup
from projects.end_user_lookup import LookupRefused, LookupResult, lookup_query_make

PARAMETERS = ("property", "value", "distinct_id_prefix")
BAD_PARAMETERS = {
    HTTPStatus.BAD_REQUEST: OpenApiResponse(
        serializers.ErrorSerializer, description="Bad parameters; the message says why."
    )
}


class LookupQuerySerializer(drf.Serializer):
    property = drf.CharField(required=False, max_length=255)
    value = drf.CharField(required=False, max_length=255)
    distinct_id_prefix = drf.CharField(required=False, max_length=255)


class LookupPersonSerializer(drf.Serializer):
    distinct_ids = drf.ListField(child=drf.CharField(), help_text="The ids the lookup matched.")
    reached_distinct_ids = drf.ListField(
        child=drf.CharField(),
        help_text="Every id a request for them reaches under the project's identity link rule.",
    )
    not_followed_distinct_ids = drf.ListField(
        child=drf.CharField(),
        help_text="Ids whose link to them was refused or is unverified: reached by no request.",
    )
    events = drf.IntegerField()
    profiles = drf.IntegerField()
    first_seen = drf.CharField(allow_null=True, help_text="UTC, YYYY-MM-DDTHH:MM:SS; null.")
    last_seen = drf.CharField(allow_null=True)


class LookupResultsSerializer(drf.Serializer):
    distinct_ids = drf.ListField(child=drf.CharField(), help_text="At most 50, in order.")
    more = drf.BooleanField(help_text="Whether more ids match than are listed.")
    people = LookupPersonSerializer(many=True)


class LookupAnswerSerializer(drf.Serializer):
    status = drf.CharField(default="ok")
    results = LookupResultsSerializer()


class EndUserLookupView(GdprApiView):
    def get_throttles(self):
        return [ReadRateThrottle()]  # a POST here reads; it creates nothing

    @extend_schema(
        operation_id="end_user_lookup",
        summary="Find the distinct_ids of an end user by a profile property or an id prefix",
        parameters=[
            TOKEN_PARAMETER,
            OpenApiParameter(
                "property",
                str,
                required=False,
                description="A profile property: $email (matched without regard to case), "
                "$phone, $name or any other (matched exactly).",
            ),
            OpenApiParameter("value", str, required=False, description="Its value, whole."),
            OpenApiParameter(
                "distinct_id_prefix",
                str,
                required=False,
                description="Instead of property and value: the start of a distinct_id.",
            ),
        ],
        responses={HTTPStatus.OK: LookupAnswerSerializer, **ERRORS, **BAD_PARAMETERS},
    )
    def get(self, request):
        return self._lookup(request.query_params)

    @extend_schema(
        operation_id="end_user_lookup_post",
        summary="The same lookup, with the parameters in a JSON body",
        parameters=[TOKEN_PARAMETER],
        request=LookupQuerySerializer,
        responses={
            HTTPStatus.OK: LookupAnswerSerializer,
            **ERRORS,
            **BAD_PARAMETERS,
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE: BODY_ERRORS[HTTPStatus.REQUEST_ENTITY_TOO_LARGE],
        },
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.", field="body")
        return self._lookup(body)

    def _lookup(self, params) -> Response:
        given = {name: params.get(name) for name in PARAMETERS}
        for name, value in given.items():
            if value is not None and not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a string.", field=name)
        prefix = given["distinct_id_prefix"]
        if prefix is not None and (given["property"] or given["value"]):
            raise InvalidRequest(
                "Give either property and value, or distinct_id_prefix, not both.",
                field="distinct_id_prefix",
            )
        if prefix is None and not given["property"]:
            raise InvalidRequest(
                "property is required (with value), or give distinct_id_prefix.", field="property"
            )
        try:
            query = lookup_query_make(
                property_name=given["property"] if prefix is None else None,
                value=given["value"] if prefix is None else prefix,
            )
        except LookupRefused as exc:
            raise InvalidRequest(str(exc), field=exc.field) from exc
        result = end_user_lookup(actor=self.actor(), project=self.project, query=query)
        return Response({"status": "ok", "results": _results(result)})


def _results(result: LookupResult) -> dict:
    return {
        "distinct_ids": result.matched,
        "more": result.more,
        "people": [
            {
                "distinct_ids": person.matched_ids,
                "reached_distinct_ids": [found.distinct_id for found in person.reached],
                "not_followed_distinct_ids": [f.distinct_id for f in person.not_followed],
                "events": person.events,
                "profiles": person.profiles,
                "first_seen": _when(person.first_seen),
                "last_seen": _when(person.last_seen),
            }
            for person in result.people
        ],
    }


def _when(value: datetime | None) -> str | None:
    return None if value is None else serializers.mixpanel_datetime(value)
