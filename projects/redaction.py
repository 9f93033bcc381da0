"""Credentials never leave a process in text it writes: URLs and settings are redacted before they are shown.

A tracking URI may carry a password (``http://user:pass@host``, and PostgreSQL URLs normally do), a data root or
an endpoint may carry a token in its query string. Every readiness reason, error message, log line, tag and
report that names such a URL passes it through ``redact`` first: the user stays readable (it tells an operator
which account), the secret becomes ``***``.

    >>> redact("tracking server unreachable at postgresql://mlops:s3cret@db:5432/mlflow")
    'tracking server unreachable at postgresql://mlops:***@db:5432/mlflow'
    >>> redact("https://store/x?X-Amz-Signature=abc&part=1")
    'https://store/x?X-Amz-Signature=***&part=1'

Pure string work, no imports beyond ``re``: the serving start, the fetch and the CLI all use it.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

# scheme://user:password@  or  scheme://token@  (userinfo ends at the last '@' before the host)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^\s/@:?#'\"]*)(?::[^\s/@?#'\"]*)?@")
# ?password=...  &token=...  (query parameters and key=value settings that name a secret)
_SECRET_PARAM = re.compile(
    r"(?P<key>(?:[?&;\s]|^)(?:[\w.-]*(?:password|passwd|pwd|secret|token|signature|credential|api[_-]?key|"
    r"access[_-]?key)[\w.-]*)=)(?P<value>[^&;\s'\"]+)",
    re.IGNORECASE,
)


def _userinfo(match: re.Match[str]) -> str:
    user = match.group("user")
    whole = match.group(0)
    has_password = ":" in whole[len(match.group("scheme")) :]
    if has_password:
        return f"{match.group('scheme')}{user}:{MASK}@"
    return f"{match.group('scheme')}{MASK}@"  # a lone userinfo is usually a token: hide it all


def redact(text: str) -> str:
    """``text`` with the password of every URL and the value of every secret-named parameter replaced by ***."""
    if "@" not in text and "=" not in text:
        return text  # the common case costs one scan
    text = _USERINFO.sub(_userinfo, text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group('key')}{MASK}", text)


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message (arguments and traceback included) is redacted before it is written.

    Attached to handlers, not loggers, so it covers every library's records that reach them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def redact_handlers(logger: logging.Logger | None = None) -> None:
    """Put a ``RedactingFilter`` on every handler of ``logger`` (default: the root logger), once."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
