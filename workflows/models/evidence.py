"""Evidence of a customer's decision: who approved, asked for changes, accepted or asked for a
revision, through what, and bound to which document.

Whoever sends the decision says what only it can know (the portal: the link, the client's
address, the browser, the box the customer ticked and the PDF's hash it showed; the CLI or a
back office: the staff member acting on the customer's behalf). The order completes it with
what only it knows (the time, the address its links go to, the version) and keeps it with the
decision. An IP address and a user agent are personal data: they travel and stay inside the
encrypted payloads, never in search attributes or logs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from workflows.models.fields import Model, ShortText

__all__ = ["DecisionChannel", "Evidence", "Sha256"]

DecisionChannel = Literal["portal", "cli", "client", "operator"]
"""``portal``: the customer, through a signed link; ``cli``: staff with ``orders`` on the customer's
behalf; ``client``: a back office through ``OrderClient`` (or an older caller that said nothing);
``operator``: someone in Temporal itself."""

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Evidence(Model):
    channel: DecisionChannel = "client"
    by: ShortText | None = Field(default=None, description="The staff member who acted on the customer's behalf.")
    link_id: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="Which signed link was used (a digest of its token, never the token)."
    )
    client_ip: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="The customer's address as the portal saw it, behind the trusted proxies only."
    )
    user_agent: Annotated[str, StringConstraints(max_length=500)] | None = None
    agreed_to_terms: bool = Field(
        default=False,
        description='The customer ticked "I have read the order confirmation (PDF) and agree to its terms".',
    )
    document_sha256: Sha256 | None = Field(default=None, description="The SHA-256 of the PDF the customer was shown.")
    at: datetime | None = Field(default=None, description="Set by the order: when it recorded the decision (UTC).")
    email: str | None = Field(default=None, description="Set by the order: the address its links were sent to.")
    version: int | None = Field(
        default=None, description="Set by the order: the confirmation version or delivery round decided on."
    )
