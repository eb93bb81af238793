"""What an evidence certificate states, worked out from the order alone: pure, no SDK.

The workflow (workflows/certificates.py) compares the digest of these facts with its latest
certificate's to decide whether to make a new one; the portal and ``orders evidence`` make the
same comparison on the ``status`` answer, so a certificate that is still current is served
without an update (a reloaded page adds nothing to the order's history).
"""

from __future__ import annotations

import hashlib

from workflows.models import (
    Certificate,
    CertificateFacts,
    CertifiedDecision,
    CertifiedPayment,
    CertifiedVersion,
    Confirmation,
    ConfirmationState,
    DecisionKind,
    Evidence,
    OrderView,
)


def certificate_facts(order: OrderView) -> CertificateFacts:
    """What a certificate of the order states now, in a stable order. Only lists the ``status``
    query answers whole, so a caller holding that answer gets the same facts."""
    return CertificateFacts(
        order_id=order.order_id,
        customer_name=order.customer.name,
        customer_email=order.customer.email,
        customer_company=order.customer.company,
        versions=[_version(c) for c in order.confirmations],
        decisions=sorted(_decisions(order), key=lambda d: (d.at is None, d.at, d.subject, d.number)),
        payments=[
            CertifiedPayment(at=p.at, amount=p.amount, currency=p.currency, method=p.method, reference=p.reference)
            for p in order.payments
        ],
    )


def facts_digest(facts: CertificateFacts) -> str:
    """SHA-256 of the facts' canonical JSON (the models' field order, no whitespace)."""
    return hashlib.sha256(facts.model_dump_json().encode()).hexdigest()


def unchanged(order: OrderView) -> Certificate | None:
    """The order's latest certificate while it still states the order's facts, else None.

    For callers holding the ``status`` answer (the portal, ``orders evidence``): a certificate
    that is still current needs no ``certify`` update, so reloading a page adds nothing to the
    order's history."""
    latest = order.certificates[-1] if order.certificates else None
    if latest is None or latest.facts_sha256 != facts_digest(certificate_facts(order)):
        return None
    return latest


def _version(c: Confirmation) -> CertifiedVersion:
    return CertifiedVersion(
        number=c.version,
        issued_at=c.issued_at,
        currency=c.currency,
        total=c.amount_total,
        state=c.state.value,
        change_of=c.change_of,
        document_sha256=c.document.sha256 if c.document else None,
    )


def _decisions(order: OrderView) -> list[CertifiedDecision]:
    found: list[CertifiedDecision] = []
    for c in order.confirmations:
        if c.decision is not None:
            what: DecisionKind = "approved" if c.state is ConfirmationState.APPROVED else "changes requested"
            found.append(_decision(what, "version", c.version, c.decision))
    revised = {r.round for r in order.revisions}
    for d in order.deliveries:
        if d.decision is not None:
            what = "revision requested" if d.round in revised else "delivery accepted"
            found.append(_decision(what, "delivery", d.round, d.decision))
    return found


def _decision(what: DecisionKind, subject: str, number: int, evidence: Evidence) -> CertifiedDecision:
    """A decision as the certificate states it: what, on which version or round, and its evidence."""
    stated = evidence.model_dump(include=set(CertifiedDecision.model_fields))
    return CertifiedDecision.model_validate({**stated, "what": what, "subject": subject, "number": number})
