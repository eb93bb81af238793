"""The evidence certificate as a PDF: the order, each confirmation version with its PDF's
SHA-256, each customer decision with its evidence, and the payments received.

The order gathers the facts (workflows/certificates.py) and asks for a certificate only when
they changed; this activity renders them on one page (as far as the facts allow: an order with
many decisions runs on), stores it write-once as ``<order id>/evidence-<N>.pdf`` and answers its
id, size and SHA-256, which the order records. The page's creation date is the time the order
issued it, so a retried activity renders the same bytes.

The facts hold the customers' IP addresses and browsers (personal data): they go into the PDF
and nowhere else, never into a log line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from temporalio import activity

from activities.config import Settings
from activities.document_store import DocumentStore
from activities.email_format import as_utc, format_label, format_money
from activities.pdf_page import IssuedPdf, Page, issue_pdf, strings
from workflows.activity_refs import CertificateRefs
from workflows.models import CertificateRequest, CertifiedDecision, CertifiedVersion, DocumentRef, EmailRequest
from workflows.names import ISSUE_CERTIFICATE

SMALL = 8.0
ROW_HEIGHT = 4.5  # the small tables' rows (versions, payments)


def certificate_document_id(order_id: str, number: int) -> str:
    """``ORD-1/evidence-2.pdf``: the same order and number always name the same file."""
    return f"{order_id}/evidence-{number}.pdf"


def certificate_filename(order_id: str, number: int) -> str:
    return f"order-{order_id}-evidence-{number}.pdf"


def _utc(moment: datetime | None) -> str:
    return f"{as_utc(moment, 'certificate'):%Y-%m-%d %H:%M:%S} UTC" if moment else "(time not recorded)"


def _header(page: Page, request: CertificateRequest, settings: Settings) -> None:
    facts = request.facts
    page.letterhead(settings, gap=3)
    page.text("Evidence certificate", size=14, style="B", height=7)
    page.text(f"Order {facts.order_id} | Certificate {request.number} | Issued {_utc(request.issued_at)}")
    page.text(
        "What the order recorded in its durable history when this certificate was issued: every version of the "
        "order confirmation with the SHA-256 of its PDF, every decision of the customer with its evidence, "
        "and the payments received. A copy of a PDF is the one the customer saw if its SHA-256 is the same.",
        size=SMALL,
        height=4,
    )
    page.party("Customer", (facts.customer_name, facts.customer_company, facts.customer_email))


def _version_row(v: CertifiedVersion) -> list[str]:
    what = f"{v.number} (change of {v.change_of})" if v.change_of else str(v.number)
    pdf = v.document_sha256 or "no PDF (issued before the order kept PDFs)"
    return [what, _utc(v.issued_at), format_money(v.total, v.currency), format_label(v.state), pdf]


def _versions(page: Page, versions: Sequence[CertifiedVersion]) -> None:
    page.heading("Order confirmation versions")
    rows = [["Version", "Issued", "Total", "State", "PDF SHA-256"], *(_version_row(v) for v in versions)]
    # The hash wraps in two lines of 32 either way.
    page.table(rows, (18, 40, 28, 22, 72), size=SMALL, line_height=ROW_HEIGHT, total=False)


def _decision_lines(d: CertifiedDecision) -> list[str]:
    subject = f"Version {d.number}" if d.subject == "version" else f"Delivery {d.number}"
    channel = {
        "portal": "the customer, through the signed link in their email",
        "cli": "staff with the orders command, on the customer's behalf",
        "client": "a back office, on the customer's behalf",
        "operator": "an operator in Temporal",
    }[d.channel]
    lines = [f"Through: {channel}" + (f" (staff: {d.by})" if d.by else "")]
    if d.email:
        lines.append(f"Email the order's links go to: {d.email}")
    if d.link_id:
        lines.append(f"Link id: {d.link_id}")
    if d.client_ip or d.user_agent:
        lines.append(f"IP address: {d.client_ip or 'not recorded'}")
        lines.append(f"Browser (user agent): {d.user_agent or 'not recorded'}")
    if d.what == "approved":
        agreed = "yes" if d.agreed_to_terms else "no"
        lines.append(f"Ticked \u201cI have read the order confirmation (PDF) and agree to its terms\u201d: {agreed}")
    if d.document_sha256:
        lines.append(f"PDF shown (SHA-256): {d.document_sha256}")
    return [f"{subject}: {d.what}, {_utc(d.at)}", *lines]


def _decisions(page: Page, decisions: Sequence[CertifiedDecision]) -> None:
    page.heading("Decisions of the customer")
    if not decisions:
        page.text("None recorded yet.", size=SMALL, height=4)
    for decision in decisions:
        first, *rest = _decision_lines(decision)
        page.pdf.ln(1)
        page.text(first, size=9, style="B", height=4.5)
        for line in rest:
            page.text(line, size=SMALL, height=4)


def _payments(page: Page, request: CertificateRequest) -> None:
    page.heading("Payments received")
    payments = request.facts.payments
    if not payments:
        page.text("None recorded yet.", size=SMALL, height=4)
        return
    currency = next((v.currency for v in request.facts.versions), "EUR")
    rows = [["Date", "Amount", "Method", "Reference"]]
    rows += [
        [_utc(p.at), format_money(p.amount, p.currency or currency), format_label(p.method.value), p.reference]
        for p in payments
    ]
    page.table(rows, (45, 35, 35, 65), size=SMALL, line_height=ROW_HEIGHT, total=False)


def render_certificate(request: CertificateRequest, settings: Settings) -> bytes:
    """The certificate's PDF: the same request always gives the same bytes."""
    texts = [*strings(request.facts.model_dump(mode="json")), settings.company_name, settings.from_email]
    page = Page(as_utc(request.issued_at, "issued_at"), texts)
    _header(page, request, settings)
    _versions(page, request.facts.versions)
    _decisions(page, request.facts.decisions)
    _payments(page, request)
    return page.bytes()


def certificate_pdf(request: EmailRequest, settings: Settings, store: DocumentStore) -> IssuedPdf:
    """The certificate an email carries (the one that closes the order), rendered and stored
    unless an earlier attempt stored it. Blocking: call it in a thread."""
    certificate = request.certificate
    if certificate is None:
        raise ValueError(f"the {request.kind.value} email of order {request.order_id} carries no certificate")
    return _issue(certificate, settings, store)


def _issue(request: CertificateRequest, settings: Settings, store: DocumentStore) -> IssuedPdf:
    order_id = request.facts.order_id
    return issue_pdf(
        store,
        certificate_document_id(order_id, request.number),
        certificate_filename(order_id, request.number),
        lambda: render_certificate(request, settings),
    )


class CertificateActivities(CertificateRefs):
    def __init__(self, settings: Settings, documents: DocumentStore) -> None:
        self._settings = settings
        self._documents = documents

    @activity.defn(name=ISSUE_CERTIFICATE)
    async def issue_certificate(self, request: CertificateRequest) -> DocumentRef:
        """Render and store certificate N of the order, unless an earlier attempt stored it;
        its reference, read back hash-checked. Blocking work runs in a thread."""
        order_id = request.facts.order_id
        issued = await asyncio.to_thread(_issue, request, self._settings, self._documents)
        activity.logger.info(
            "evidence certificate %d of order %s stored (%d bytes)",
            request.number,
            order_id,
            issued.document.size,
            extra={"order_id": order_id},
        )
        return issued.document
