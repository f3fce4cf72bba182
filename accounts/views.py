from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def personal_settings(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/personal_settings.html")


@login_required
def members(request: HttpRequest, organization_id: int) -> HttpResponse:
    raise NotImplementedError
