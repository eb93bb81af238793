"""What a backend is given to send, and what every email backend offers.

``activities/email.py`` renders an ``OutgoingEmail`` and hands it to an
``EmailBackend``: its own ``OutboxBackend`` or ``SendGridBackend``
(``activities/sendgrid_backend.py``). Both sides import this module, and it
imports neither, so the backends do not import the module that picks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message, such as the confirmation's PDF."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class OutgoingEmail:
    order_id: str
    kind: str
    message_key: str
    to_email: str
    to_name: str | None
    from_email: str
    from_name: str | None
    reply_to: str | None
    subject: str
    text: str
    html: str
    template_data: Mapping[str, Any] = field(default_factory=dict)
    """The template variables and the rendered subject, for provider-side templates."""
    attachments: tuple[Attachment, ...] = ()


class EmailBackend(Protocol):
    """Where rendered mail goes. ``send`` is synchronous (it runs in a worker
    thread) and must be idempotent per ``message_key``: an activity retry
    calls it again with the same message."""

    name: str

    def send(self, message: OutgoingEmail) -> str | None:
        """Deliver the message; return the provider's message id if it has one."""
        ...
