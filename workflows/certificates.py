"""The order's evidence certificate: one PDF stating its versions (each with its PDF's hash),
its customer's decisions with their evidence, and the payments received.

Anyone may ask for it at any time (the ``certify`` update: ``orders evidence``, the portal's
link), so it is made only when something it states changed: the order keeps a digest of the
facts each certificate stated, and an unchanged order answers with the certificate it has,
without running anything. Two requests at once wait for each other (a lock), so two clicks
make one certificate. When the order closes (it then takes no more updates), the first email
to the customer after it closed (support closed, the last payment, the cancellation, the
expiry) carries a last one if anything changed: rendered, stored and attached by the email's
own activity, so closing costs no activity of its own, and a closed order always has a
current certificate for a dispute.

The facts come from the order; the PDF is rendered and stored by an activity
(activities/certificates.py), and the order keeps its id, size and SHA-256 (``Certificate``).
IP addresses and user agents are in the facts, so they stay inside the encrypted payloads.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import names
from workflows.activity_refs import CertificateRefs, reason
from workflows.certificate_facts import certificate_facts, facts_digest
from workflows.models import (
    Audience,
    Certificate,
    CertificateFacts,
    CertificateRequest,
    CertifyInput,
    EmailReceipt,
    OrderState,
)

# Rendering one page and writing it takes well under a second; a store that is down is retried
# a few times only, so that whoever asked hears of it rather than waiting for good.
CERTIFICATE_TIMEOUT = timedelta(seconds=60)
CERTIFICATE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)

NO_CONFIRMATION_ERROR = "NoConfirmation"
CERTIFICATE_FAILED_ERROR = "CertificateFailed"


class Certificates:
    """Issues the order's evidence certificates; one at a time."""

    def __init__(self, state: OrderState) -> None:
        self._state = state
        self._lock = asyncio.Lock()
        self._closing: CertificateRequest | None = None

    @property
    def _latest(self) -> Certificate | None:
        certificates = self._state.order.certificates
        return certificates[-1] if certificates else None

    def validate(self, request: CertifyInput) -> None:
        """Refuse a certificate of an order with nothing to certify yet."""
        del request
        if not self._state.order.confirmations:
            raise ApplicationError(
                f"order {self._state.order.order_id} has no order confirmation yet, so there is nothing to certify:"
                " an evidence certificate lists the confirmation versions, the customer's decisions and payments",
                type=NO_CONFIRMATION_ERROR,
                non_retryable=True,
            )

    async def certify(self, request: CertifyInput) -> Certificate:
        """The latest certificate, issued anew only when the facts changed since it."""
        who = f"staff: {request.by}" if request.by else f"link {request.link_id}" if request.link_id else ""
        async with self._lock:
            # A closing email carrying the last certificate: it numbers it, so wait for it.
            await workflow.wait_condition(lambda: self._closing is None)
            facts = certificate_facts(self._state.order)
            digest = facts_digest(facts)
            latest = self._latest
            if latest is not None and latest.facts_sha256 == digest:
                return latest
            try:
                return await self._issue(facts, digest, who)
            except ActivityError as error:
                raise ApplicationError(
                    f"the evidence certificate could not be made: {reason(error)}",
                    type=CERTIFICATE_FAILED_ERROR,
                    non_retryable=True,
                ) from None

    def for_closing_email(self, audience: Audience) -> CertificateRequest | None:
        """What a customer email built once the order closed carries: its last certificate, when
        it has decisions or payments to state that changed since the latest, and no other
        certificate is on its way (a ``certify`` in flight, or an earlier closing email)."""
        if audience is not Audience.CUSTOMER or not self._state.order.status.is_final:
            return None
        if self._closing is not None or self._lock.locked():
            return None
        facts = certificate_facts(self._state.order)
        digest = facts_digest(facts)
        latest = self._latest
        if not (facts.decisions or facts.payments) or (latest is not None and latest.facts_sha256 == digest):
            return None
        self._closing = CertificateRequest(
            number=len(self._state.order.certificates) + 1, issued_at=workflow.now(), facts=facts
        )
        return self._closing

    def closing_email_sent(self, receipt: EmailReceipt | None) -> None:
        """The closing email went (or failed): record the certificate it carried, if it was made.
        A failed one leaves the next closing email to try again."""
        request, self._closing = self._closing, None
        if request is None or receipt is None or receipt.certificate is None:
            return
        self._state.order.certificates.append(
            Certificate(
                number=request.number,
                issued_at=request.issued_at,
                document=receipt.certificate,
                facts_sha256=facts_digest(request.facts),
                requested_by="the order closing",
            )
        )

    async def _issue(self, facts: CertificateFacts, digest: str, who: str) -> Certificate:
        number = len(self._state.order.certificates) + 1
        issued_at = workflow.now()
        document = await workflow.execute_activity_method(
            CertificateRefs.issue_certificate,
            CertificateRequest(number=number, issued_at=issued_at, facts=facts),
            start_to_close_timeout=CERTIFICATE_TIMEOUT,
            retry_policy=CERTIFICATE_RETRY,
            summary=f"evidence certificate {number}",
        )
        certificate = Certificate(
            number=number, issued_at=issued_at, document=document, facts_sha256=digest, requested_by=who or None
        )
        self._state.order.certificates.append(certificate)
        return certificate


class CertifyHandler:
    """The ``certify`` update of the order workflow; the work is ``Certificates``'."""

    _certificates: Certificates

    @workflow.update(name=names.CERTIFY)
    async def certify(self, request: CertifyInput) -> Certificate:
        """The order's evidence certificate, issued anew only when its facts changed."""
        return await self._certificates.certify(request)

    @certify.validator
    def _validate_certify(self, request: CertifyInput) -> None:
        self._certificates.validate(request)
