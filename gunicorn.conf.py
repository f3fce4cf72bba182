"""gunicorn's settings for this project (README, Production):

    gunicorn -c gunicorn.conf.py config.wsgi

Command-line options and GUNICORN_CMD_ARGS override these (for example `--workers 8`, or
`--access-logfile -` to turn the access log on: it is off unless asked for, as in gunicorn).

What this file is for: logs that hold no secret (DESIGN section 9). gunicorn's default access
line prints the HTTP Basic user, which on /import is the project's API secret, and the full
request line, which on a download is the signed link and elsewhere carries end users' data in
the query string. The logger class prints neither, whatever the format.
"""

# The redacting logger: no Basic user, no query string, no download signature, no credential
# header, in the access log and in gunicorn's own error log.
logger_class = "config.gunicorn_logging.RedactingLogger"

# Apache's common log format with the user field left out, plus the time taken and the user
# agent. %(r)s is the request line as the logger class redacts it.
access_log_format = '%(h)s - %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
