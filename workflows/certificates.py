"""The order's evidence certificate: one PDF stating its versions (each with its PDF's hash),
its customer's decisions with their evidence, and the payments received.

Anyone may ask for it at any time (the ``certify`` update: ``orders evidence``, the portal's
link), so it is made only when something it states changed: the order keeps a digest of the
facts each certificate stated, and an unchanged order answers with the certificate it has,
without running anything. Two requests at once wait for each other (a lock), so two clicks
make one certificate. When the order closes (it then takes no more updates), it issues a last
one if anything changed, so a closed order always has a current certificate for a dispute.

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
    Certificate,
    CertificateFacts,
    CertificateRequest,
    CertifyInput,
    OrderState,
)

# Rendering one page and writing it takes well under a second; a store that is down is retried
# a few times only, so that whoever asked hears of it rather than waiting for good.
CERTIFICATE_TIMEOUT = timedelta(seconds=60)
CERTIFICATE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)

# Orders that closed before certificates existed issued none at the end.
CERTIFY_ON_CLOSE = "evidence-certificate-on-close"

NO_CONFIRMATION_ERROR = "NoConfirmation"
CERTIFICATE_FAILED_ERROR = "CertificateFailed"


class Certificates:
    """Issues the order's evidence certificates; one at a time."""

    def __init__(self, state: OrderState) -> None:
        self._state = state
        self._lock = asyncio.Lock()

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

    async def certify(self, request: CertifyInput, who: str = "") -> Certificate:
        """The latest certificate, issued anew only when the facts changed since it."""
        who = who or (f"staff: {request.by}" if request.by else f"link {request.link_id}" if request.link_id else "")
        async with self._lock:
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

    async def at_close(self) -> None:
        """A last certificate as the order closes, when it has decisions or payments to state
        and they changed since the latest one. A failure is logged: the order closes anyway."""
        facts = certificate_facts(self._state.order)
        latest = self._latest
        if not (facts.decisions or facts.payments) or (latest and latest.facts_sha256 == facts_digest(facts)):
            return
        if not workflow.patched(CERTIFY_ON_CLOSE):
            return
        try:
            await self.certify(CertifyInput(), "the order closing")
        except ApplicationError as error:
            # The type only: an activity's failure may quote the facts, which stay out of logs.
            workflow.logger.error(
                "order %s closed without its final evidence certificate (%s)", facts.order_id, error.type
            )
        # A certify update that came in meanwhile answers before the run ends.
        await workflow.wait_condition(workflow.all_handlers_finished)

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
