"""The GDPR API v3, wire-compatible with Mixpanel's (DESIGN section 6). Thin views: the
permission class resolves the project and task in the contract's check order, the services do
the rest, and api_exception_handler shapes every error."""

from http import HTTPStatus

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import Actor
from config.site_url import submitting_site_url
from privacy_requests.api import serializers
from privacy_requests.api.authentication import (
    GdprTokenAuthentication,
    ServiceAccountAuthentication,
    request_actor,
)
from privacy_requests.api.parsers import AnyContentTypeJSONParser
from privacy_requests.api.permissions import ProjectPrivacyPermission
from privacy_requests.api.throttling import (
    CreateRateThrottle,
    FailedAuthenticationLimit,
    ReadRateThrottle,
)
from privacy_requests.errors import InvalidRequest
from privacy_requests.models import Channel, PrivacyRequest, RequestKind, Status
from privacy_requests.selectors import (
    privacy_request_given_ids,
    privacy_request_list_for_user,
    privacy_request_reached_ids,
    privacy_request_result_url,
    privacy_request_subject_results,
)
from privacy_requests.services import privacy_request_cancel, privacy_request_submit
from privacy_requests.services.idempotency import privacy_request_submit_once

TOKEN_PARAMETER = OpenApiParameter(
    "token", str, OpenApiParameter.QUERY, required=True, description="The project token."
)
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Repeats of a create with the same key and body within 24 hours get the first "
        "request's answer; the same key with another body is a 422."
    ),
)
ERRORS = {
    HTTPStatus.UNAUTHORIZED: OpenApiResponse(
        serializers.ErrorSerializer,
        description="No, invalid or expired GDPR token or service account credentials.",
    ),
    HTTPStatus.NOT_FOUND: OpenApiResponse(
        serializers.ErrorSerializer, description="Unknown project token or task."
    ),
    HTTPStatus.FORBIDDEN: OpenApiResponse(
        serializers.ErrorSerializer,
        description=(
            "Not an owner or admin of the project's organization, nor an admin service "
            "account granted the project."
        ),
    ),
    HTTPStatus.TOO_MANY_REQUESTS: OpenApiResponse(
        serializers.ErrorSerializer,
        description=(
            "Rate limited: this principal's creates or reads, or too many failed "
            "authentications from this address; see Retry-After."
        ),
    ),
}
MAX_ID = 2**63 - 1  # the largest id a database integer holds
BODY_ERRORS = {
    HTTPStatus.BAD_REQUEST: OpenApiResponse(
        serializers.ErrorSerializer, description="Invalid body; the message says why."
    ),
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: OpenApiResponse(
        serializers.ErrorSerializer, description="Body over 2 MiB."
    ),
    HTTPStatus.UNPROCESSABLE_ENTITY: OpenApiResponse(
        serializers.ErrorSerializer,
        description="The Idempotency-Key was already used with another body.",
    ),
}


class NoStore:
    """No cache may keep an answer: a status holds a signed download link, a bearer credential
    (DESIGN section 5.2), and answers name distinct_ids."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        response["Cache-Control"] = "no-store"
        return response


class GdprApiView(NoStore, FailedAuthenticationLimit, APIView):
    kind: str = ""
    authentication_classes = [GdprTokenAuthentication, ServiceAccountAuthentication]
    permission_classes = [ProjectPrivacyPermission]
    parser_classes = [AnyContentTypeJSONParser]

    def get_throttles(self):
        throttle = CreateRateThrottle if self.request.method == "POST" else ReadRateThrottle
        return [throttle()]

    def actor(self) -> Actor:
        return request_actor(self.request)


class CreateView(GdprApiView):
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.", field="body")
        if "distinct_ids" not in body:
            raise InvalidRequest(
                "distinct_ids is required: a list of 1 to 2,000 distinct_ids.", field="distinct_ids"
            )

        def submit() -> PrivacyRequest:
            return privacy_request_submit(
                project=self.project,
                actor=self.actor(),
                channel=Channel.API,
                kind=self.kind,
                compliance=body.get("compliance_type"),
                disclosure=body.get("disclosure_type"),
                distinct_ids=body.get("distinct_ids"),
                site_url=submitting_site_url(request),
            )

        privacy_request, _ = privacy_request_submit_once(
            actor=self.actor(),
            key=request.headers.get("Idempotency-Key"),
            kind=self.kind,
            compliance=body.get("compliance_type"),
            disclosure=body.get("disclosure_type"),
            distinct_ids=body.get("distinct_ids"),
            submit=submit,
        )
        return Response(
            {"status": "ok", "results": {"task_id": privacy_request.tracking_id}},
            status=HTTPStatus.CREATED,
        )


class DetailView(GdprApiView):
    def get(self, request, task_id):
        privacy_request = self.privacy_request
        results = {
            "status": privacy_request.status,
            "result": privacy_request_result_url(
                request=privacy_request, absolute_base=request.build_absolute_uri("/")
            ),
            "distinct_ids": privacy_request_given_ids(request=privacy_request),
            "reached_distinct_ids": privacy_request_reached_ids(request=privacy_request),
        }
        if self.kind == RequestKind.EXPORT:
            # Issue 17, an addition: one package and link per subject beside `result`.
            results["subject_results"] = privacy_request_subject_results(
                request=privacy_request, absolute_base=request.build_absolute_uri("/")
            )
        if self.kind == RequestKind.DELETION:
            results.update(
                {
                    "tracking_id": privacy_request.tracking_id,
                    "requesting_user": privacy_request.requested_by.partition(":")[2]
                    or privacy_request.requested_by,
                    "compliance_type": privacy_request.compliance,
                    "project_id": privacy_request.project_id,
                    "date_requested": serializers.mixpanel_datetime(privacy_request.received_at),
                }
            )
            if privacy_request.approval_state:
                # An extension beside Mixpanel's fields: the status stays STAGING meanwhile.
                results["approval"] = serializers.approval_resource(privacy_request)
        return Response({"status": "ok", "results": results})

    def delete(self, request, task_id):
        privacy_request_cancel(request=self.privacy_request, actor=self.actor())
        return Response(status=HTTPStatus.NO_CONTENT)


class RetrievalCreateView(CreateView):
    kind = RequestKind.EXPORT

    @extend_schema(
        operation_id="create_retrieval",
        parameters=[TOKEN_PARAMETER, IDEMPOTENCY_PARAMETER],
        request=serializers.RetrievalCreateSerializer,
        responses={HTTPStatus.CREATED: serializers.CreatedSerializer, **ERRORS, **BODY_ERRORS},
        summary="Create a data retrieval (GDPR access / CCPA disclosure)",
    )
    def post(self, request):
        return super().post(request)


class DeletionCreateView(CreateView):
    kind = RequestKind.DELETION

    @extend_schema(
        operation_id="create_deletion",
        parameters=[TOKEN_PARAMETER, IDEMPOTENCY_PARAMETER],
        request=serializers.DeletionCreateSerializer,
        responses={
            HTTPStatus.CREATED: serializers.CreatedSerializer,
            **ERRORS,
            **BODY_ERRORS,
            HTTPStatus.CONFLICT: OpenApiResponse(
                serializers.ConflictSerializer,
                description="Some ids already have an unfinished deletion in this project.",
            ),
        },
        summary="Create a data deletion (GDPR erasure / CCPA deletion)",
    )
    def post(self, request):
        return super().post(request)


CANCEL_RESPONSES = {
    HTTPStatus.NO_CONTENT: OpenApiResponse(description="Canceled (it was PENDING or STAGING)."),
    HTTPStatus.METHOD_NOT_ALLOWED: OpenApiResponse(
        serializers.ErrorSerializer, description="Too late: the request already STARTED."
    ),
    **ERRORS,
}


class RetrievalDetailView(DetailView):
    kind = RequestKind.EXPORT

    @extend_schema(
        operation_id="retrieval_status",
        parameters=[TOKEN_PARAMETER],
        responses={HTTPStatus.OK: serializers.RetrievalStatusSerializer, **ERRORS},
        summary="Status of a data retrieval, with its download URL once done",
    )
    def get(self, request, task_id):
        return super().get(request, task_id)

    @extend_schema(
        operation_id="cancel_retrieval",
        parameters=[TOKEN_PARAMETER],
        responses=CANCEL_RESPONSES,
        summary="Cancel a data retrieval",
    )
    def delete(self, request, task_id):
        return super().delete(request, task_id)


class DeletionDetailView(DetailView):
    kind = RequestKind.DELETION

    @extend_schema(
        operation_id="deletion_status",
        parameters=[TOKEN_PARAMETER],
        responses={HTTPStatus.OK: serializers.DeletionStatusSerializer, **ERRORS},
        summary="Status of a data deletion, with its receipt URL once done",
    )
    def get(self, request, task_id):
        return super().get(request, task_id)

    @extend_schema(
        operation_id="cancel_deletion",
        parameters=[TOKEN_PARAMETER],
        responses=CANCEL_RESPONSES,
        summary="Cancel a data deletion",
    )
    def delete(self, request, task_id):
        return super().delete(request, task_id)


class RequestCursorPagination(CursorPagination):
    page_size = 100
    ordering = ("-received_at", "-id")

    def decode_cursor(self, request):
        # DRF checks a cursor's encoding, not its position: a hand-made one would reach the
        # database as a date that is none, a 500. Answer it as DRF answers a broken cursor.
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                position = parse_datetime(cursor.position)
            except ValueError:
                position = None
            if position is None:
                raise NotFound(self.invalid_cursor_message)
        return cursor


class PrivacyRequestListView(NoStore, FailedAuthenticationLimit, ListAPIView):
    """Native endpoint (not Mixpanel's): every request of the organizations where you are an
    owner or admin, newest first, 100 a page."""

    authentication_classes = [GdprTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ReadRateThrottle]
    serializer_class = serializers.PrivacyRequestListItemSerializer
    pagination_class = RequestCursorPagination

    @extend_schema(
        operation_id="list_requests",
        summary="The privacy requests of your organizations",
        parameters=[
            OpenApiParameter("project_id", int, required=False),
            OpenApiParameter("status", str, required=False, enum=Status.values),
        ],
        responses={
            HTTPStatus.OK: serializers.PrivacyRequestListItemSerializer(many=True),
            HTTPStatus.BAD_REQUEST: OpenApiResponse(
                serializers.ErrorSerializer,
                description="A bad project_id or status; the message says why.",
            ),
            HTTPStatus.UNAUTHORIZED: ERRORS[HTTPStatus.UNAUTHORIZED],
            HTTPStatus.NOT_FOUND: OpenApiResponse(
                serializers.ErrorSerializer, description="Invalid cursor."
            ),
            HTTPStatus.TOO_MANY_REQUESTS: ERRORS[HTTPStatus.TOO_MANY_REQUESTS],
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        requests = privacy_request_list_for_user(user=self.request.user)
        project_id = self.request.query_params.get("project_id")
        if project_id:
            # isdigit() alone admits "²", which int() refuses.
            if not (project_id.isascii() and project_id.isdigit()):
                raise InvalidRequest("project_id must be a number.", field="project_id")
            if len(project_id) > len(str(MAX_ID)) or int(project_id) > MAX_ID:
                return requests.none()  # no such project, and past the database's integers
            requests = requests.filter(project_id=int(project_id))
        status = self.request.query_params.get("status")
        if status:
            if status.upper() not in Status.values:
                raise InvalidRequest(
                    f"status must be one of {', '.join(Status.values)}.", field="status"
                )
            requests = requests.filter(status=status.upper())
        return requests
