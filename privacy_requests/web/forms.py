from django import forms

from privacy_requests.models import Compliance, Disclosure, RequestKind, Status
from privacy_requests.property_categories import CATEGORIES
from privacy_requests.services.submission import MAX_DISTINCT_ID_LENGTH, MAX_DISTINCT_IDS
from privacy_requests.web.csv_upload import CsvError, TooLargeUpload, distinct_ids_parse_csv
from projects.models import IdentityLinksFrom

ONE_USER = "one"
CSV_FILE = "csv"


class _RequestForm(forms.Form):
    """Shared fields of the Request Export and Request Deletion forms. `cleaned_data` ends with
    `distinct_ids` (unique, first seen first) and `parsed` (the CSV's statistics or None)."""

    compliance = forms.ChoiceField(
        label="Compliance",
        choices=Compliance.choices,
        initial=Compliance.GDPR,
        widget=forms.RadioSelect,
    )
    project = forms.ModelChoiceField(
        label="Project",
        queryset=None,
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of this organization's projects."},
    )
    ids_from = forms.ChoiceField(
        label="End users",
        choices=[
            (ONE_USER, "One user: enter a distinct_id"),
            (CSV_FILE, f"Several users: upload a CSV of up to {MAX_DISTINCT_IDS:,} ids"),
        ],
        initial=ONE_USER,
        widget=forms.RadioSelect,
    )
    # Verbatim, as the API takes it: a stripped " padded " would name another end user.
    distinct_id = forms.CharField(
        label="distinct_id",
        required=False,
        strip=False,
        max_length=MAX_DISTINCT_ID_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            "Exactly as your product sends it: ids are case-sensitive, and spaces at either "
            "end are part of the id."
        ),
    )
    csv_file = forms.FileField(
        label="CSV file",
        required=False,
        allow_empty_file=True,  # the CSV rules name the line of an empty file
        widget=forms.FileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
        help_text=(
            f"UTF-8, at most 5 MiB and {MAX_DISTINCT_IDS:,} unique ids: one column of ids, or a "
            "header row with a distinct_id column; separated by commas, semicolons or tabs. "
            "The file is read once and never stored."
        ),
    )

    def __init__(self, *args, projects, kept_csv=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects
        # The ids of a CSV read before a form error (web/csv_kept.py): used when no file is
        # chosen this time.
        self.kept_csv = kept_csv

    def clean(self):
        cleaned = super().clean()
        cleaned["distinct_ids"] = []
        cleaned["parsed"] = None
        if cleaned.get("ids_from") == CSV_FILE:
            upload = cleaned.get("csv_file")
            if not upload and self.kept_csv is not None:
                cleaned["distinct_ids"] = list(self.kept_csv.distinct_ids)
            elif not upload:
                self.add_error("csv_file", "Choose a CSV file of distinct_ids to upload.")
            elif isinstance(upload, TooLargeUpload):
                self.add_error(
                    "csv_file",
                    f"The file is {upload.size / 1048576:.1f} MiB; the "
                    "limit is 5 MiB. Split it into smaller files.",
                )
            else:
                try:
                    parsed = distinct_ids_parse_csv(upload.read())
                except CsvError as exc:
                    self.add_error("csv_file", str(exc))
                else:
                    cleaned["distinct_ids"] = parsed.distinct_ids
                    cleaned["parsed"] = parsed
        elif cleaned.get("ids_from") == ONE_USER and "distinct_id" not in self.errors:
            distinct_id = cleaned.get("distinct_id", "")
            if not distinct_id:
                self.add_error("distinct_id", "Enter the end user's distinct_id.")
            else:
                cleaned["distinct_ids"] = [distinct_id]
        return cleaned


class ExportRequestForm(_RequestForm):
    disclosure = forms.ChoiceField(
        label="CCPA disclosure",
        choices=[
            (Disclosure.DATA, "Data: the records themselves"),
            (Disclosure.CATEGORIES, "Categories: the kinds of data held, without values"),
            (Disclosure.SOURCES, "Sources: how the data was collected"),
        ],
        initial=Disclosure.DATA,
        required=False,
        widget=forms.RadioSelect,
        help_text="CCPA only: a GDPR export always holds the data itself.",
    )

    field_order = ["compliance", "disclosure", "project", "ids_from", "distinct_id", "csv_file"]

    def clean(self):
        cleaned = super().clean()
        disclosure = cleaned.get("disclosure") or Disclosure.DATA
        cleaned["disclosure"] = disclosure
        if cleaned.get("compliance") == Compliance.GDPR and disclosure != Disclosure.DATA:
            self.add_error(
                "disclosure",
                "A GDPR export always holds the data itself: choose "
                "Data, or choose CCPA for categories or sources.",
            )
        return cleaned


class DeletionRequestForm(_RequestForm):
    """Issue 18: a CCPA deletion may remove only some categories of properties, or only the
    records of some sources; a GDPR deletion always removes everything."""

    disclosure = forms.ChoiceField(
        label="What to delete (CCPA)",
        choices=[
            (Disclosure.DATA, "Data: everything"),
            (Disclosure.CATEGORIES, "Categories: only the properties of the categories chosen"),
            (Disclosure.SOURCES, "Sources: only the records of the sources chosen"),
        ],
        initial=Disclosure.DATA,
        required=False,
        widget=forms.RadioSelect,
        help_text="CCPA only: a GDPR deletion always removes everything.",
    )
    categories = forms.MultipleChoiceField(
        label="Categories to delete",
        choices=[(c.key, f"{c.name}: {c.description}") for c in CATEGORIES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The same categories as the export's categories.json.",
    )
    sources = forms.CharField(
        label="Sources to delete",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=(
            'One a line, as in the export\'s sources.json, e.g. "track/python 5.4.1"; '
            '"engage" is the profile. The preview counts what each removes.'
        ),
    )

    field_order = [
        "compliance",
        "disclosure",
        "categories",
        "sources",
        "project",
        "ids_from",
        "distinct_id",
        "csv_file",
    ]

    def clean(self):
        cleaned = super().clean()
        disclosure = cleaned.get("disclosure") or Disclosure.DATA
        cleaned["disclosure"] = disclosure
        cleaned["sources"] = [
            line.strip() for line in (cleaned.get("sources") or "").splitlines() if line.strip()
        ]
        if cleaned.get("compliance") != Compliance.CCPA:
            if disclosure != Disclosure.DATA:
                self.add_error(
                    "disclosure",
                    "A GDPR deletion always removes everything: choose Data, or choose CCPA "
                    "to delete by categories or sources.",
                )
        elif disclosure == Disclosure.CATEGORIES and not cleaned.get("categories"):
            self.add_error("categories", "Choose at least one category to delete.")
        elif disclosure == Disclosure.SOURCES and not cleaned["sources"]:
            self.add_error("sources", "Enter at least one source to delete.")
        return cleaned


class PreviewForm(forms.Form):
    """The preview's post: the person's decisions (checked by the services, which know what
    the request reaches), and for a deletion the confirmation box."""

    confirm = forms.BooleanField(
        label="I understand that this permanently deletes these end users' data and cannot be "
        "undone",
        required=False,
    )

    def __init__(self, *args, kind: str, submitting: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if kind == RequestKind.DELETION and submitting:
            self.fields["confirm"].required = True
            self.fields["confirm"].error_messages["required"] = (
                "Tick the box to confirm the deletion."
            )

    def decisions(self) -> tuple[list[str], list[str]]:
        """(left out, included) as posted."""
        return self.data.getlist("leave_out"), self.data.getlist("include")


class RequestFilterForm(forms.Form):
    # Not stripped: a distinct_id's spaces are part of it (the selector strips for the
    # tracking id prefix).
    search = forms.CharField(
        label="distinct_id or tracking id",
        required=False,
        strip=False,
        max_length=255,
        help_text="An end user's id exactly as given, or the start of a tracking id.",
    )
    project = forms.ModelChoiceField(
        label="Project", queryset=None, required=False, empty_label="All projects"
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "All statuses"), *Status.choices]
    )
    kind = forms.ChoiceField(
        label="Type", required=False, choices=[("", "All types"), *RequestKind.choices]
    )

    def __init__(self, *args, projects, kept_csv=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects
        # The ids of a CSV read before a form error (web/csv_kept.py): used when no file is
        # chosen this time.
        self.kept_csv = kept_csv


class SuppressionForm(forms.Form):
    enabled = forms.ChoiceField(choices=[("on", "On"), ("off", "Off")], widget=forms.HiddenInput)


class IdentityLinksFromForm(forms.Form):
    identity_links_from = forms.ChoiceField(
        label="Identity links that join ids",
        choices=IdentityLinksFrom.choices,
        widget=forms.RadioSelect,
    )


class SuppressionLiftForm(forms.Form):
    distinct_id = forms.CharField(
        label="distinct_id to accept again",
        strip=False,  # verbatim, as the deletion that suppressed it took it
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Exactly as your product sends it: ids are case-sensitive.",
    )


SEARCH_BY_PROPERTY = "property"
SEARCH_BY_PREFIX = "prefix"


class EndUserLookupForm(forms.Form):
    """Find an end user (issue 18): `cleaned_data` ends with `query` (projects.end_user_lookup
    checks what the fields hold)."""

    project = forms.ModelChoiceField(
        label="Project",
        queryset=None,
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of this organization's projects."},
    )
    search_by = forms.ChoiceField(
        label="Search by",
        choices=[
            ("$email", "Email ($email)"),
            ("$phone", "Phone ($phone)"),
            ("$name", "Name ($name)"),
            (SEARCH_BY_PROPERTY, "Another profile property"),
            (SEARCH_BY_PREFIX, "Start of a distinct_id"),
        ],
        initial="$email",
        widget=forms.RadioSelect,
    )
    # Verbatim: property names and values are matched as stored (lookup_query_make strips an
    # email, which matches without regard to case or spaces).
    property_name = forms.CharField(
        label="Property name",
        required=False,
        strip=False,
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            "With “Another profile property”: its name as your product sends it, e.g. "
            "customer_id or $country_code."
        ),
    )
    value = forms.CharField(
        label="Value",
        strip=False,
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            "An email matches whole, without regard to case; any other value matches whole and "
            "exactly as stored; a distinct_id by its start, case-sensitive."
        ),
        error_messages={"required": "Enter what to search for."},
    )

    def __init__(self, *args, projects, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects

    def clean(self):
        cleaned = super().clean()
        search_by = cleaned.get("search_by")
        if search_by == SEARCH_BY_PROPERTY:
            cleaned["property"] = cleaned.get("property_name", "")
            if not cleaned["property"].strip():
                self.add_error("property_name", "Name the property to search.")
        elif search_by == SEARCH_BY_PREFIX:
            cleaned["property"] = ""
        else:
            cleaned["property"] = search_by or ""
        return cleaned


class ApprovalDecisionForm(forms.Form):
    """Approve or reject a large deletion; the reason goes into the audit chain and the receipt."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why: the reason is kept with the request."},
    )
