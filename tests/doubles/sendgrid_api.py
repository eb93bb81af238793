"""The SendGrid double, as the tests have always imported it.

It lives in ``bench/sendgrid_double.py`` now: the benchmark drives the same
double (``bench/email_duplicates.py``) and must not import from ``tests/``.
"""

from bench.sendgrid_double import MAIL_SEND, TEST_API_KEY, RecordedRequest, Reply, SendGridDouble, serve

__all__ = ["MAIL_SEND", "TEST_API_KEY", "RecordedRequest", "Reply", "SendGridDouble", "serve"]
