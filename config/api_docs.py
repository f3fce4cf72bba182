"""The API docs pages (/api/docs/ with Swagger UI, /api/redoc/ with ReDoc) under the
Content-Security-Policy (issue 15, finding 8).

Both run from drf-spectacular-sidecar's copies in our static files, started by scripts of ours
(static/js/api_docs_*.js) from templates of ours (templates/api_docs/): drf-spectacular's own
templates run inline scripts and load Google's fonts. ReDoc makes its styles at run time: those
carry the response's nonce (the base policy's NONCE), except one stylesheet its bundle inserts as
it loads, before any nonce can reach it: perfect-scrollbar's, allowed here by its hash (and the
empty string's, the text the element is created with), on this page only. A new sidecar release
that changes it shows up as a violation in tests/e2e/test_content_security_policy.py.
"""

from csp.decorators import csp_update
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

REDOC_STYLE_HASHES = [
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # the empty stylesheet
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar (ReDoc 2.5.4)
]

swagger_ui = SpectacularSwaggerView.as_view(
    url_name="api-schema", template_name="api_docs/swagger_ui.html"
)
redoc = csp_update({"style-src": REDOC_STYLE_HASHES})(
    SpectacularRedocView.as_view(url_name="api-schema", template_name="api_docs/redoc.html")
)
