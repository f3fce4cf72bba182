"""gunicorn's logger for this project (`logger_class` in gunicorn.conf.py): its access and error
logs hold no credential and no query string (`config.log_redaction`).

gunicorn's default access line names the HTTP Basic user, which on `/import` is the project's
API secret, and the request line, which on a download is the signed link. Here, whatever the
format asks for: the user is "-", the request line, path and referer are redacted, the query
string is "[redacted]" when there is one, and no atom offers an environ variable or a
credential header. Only imported by gunicorn, which is installed wherever it runs.
"""

from typing import Any

from gunicorn import glogging

from config.log_redaction import REDACTED, RedactSecretsFilter, redact_text

# Credential headers, as gunicorn names their atoms (lower case): never logged.
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")


class RedactingLogger(glogging.Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # setup() runs again on a reload (SIGHUP): one filter, not one per reload.
        if not any(isinstance(each, RedactSecretsFilter) for each in self.error_log.filters):
            self.error_log.addFilter(RedactSecretsFilter())

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        redacted = {
            key: value
            for key, value in atoms.items()
            # {name}e atoms are the WSGI environ: the raw URI, the query, the headers again.
            if not key.endswith("}e")
            and not (key.startswith("{") and key[1:-2] in CREDENTIAL_HEADERS)
        }
        redacted.update(
            u="-",
            r=redact_text(str(atoms["r"])),
            U=redact_text(str(atoms["U"] or "")),
            q=REDACTED if atoms["q"] else "",
            f=redact_text(str(atoms["f"])),
        )
        return redacted
