"""Names shared by the worker, the CLI and every web backend.

They are the wire contract: renaming one breaks running orders and other
people's integrations, so each lives here exactly once.
"""

from typing import Final

TASK_QUEUE: Final = "service-orders"
WORKFLOW_TYPE: Final = "ServiceOrderWorkflow"
WORKFLOW_ID_PREFIX: Final = "order-"


def workflow_id(order_id: str) -> str:
    """Return the workflow id of an order: one workflow per order."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


# Actions. Each one is both a signal (durable, fire-and-forget, what web
# backends send) and an update of the same name (answers with the new status).
# ``workflows/action_registry.py`` declares what each one takes and when.
ADD_NOTE: Final = "add_note"
UPDATE_CUSTOMER: Final = "update_customer"
ISSUE_CONFIRMATION: Final = "issue_confirmation"
APPROVE: Final = "approve"
REQUEST_CHANGES: Final = "request_changes"
RECORD_PAYMENT: Final = "record_payment"
POST_UPDATE: Final = "post_update"
DELIVER: Final = "deliver"
ACCEPT: Final = "accept"
REQUEST_REVISION: Final = "request_revision"
REQUEST_SUPPORT: Final = "request_support"
CANCEL: Final = "cancel"
PROVIDE_PAYMENT_METHOD: Final = "provide_payment_method"
PAYMENT_FAILED: Final = "payment_failed"
PAYMENT_EVENT: Final = "payment_event"
EXTEND_DEADLINE: Final = "extend_deadline"


# Queries.
STATUS_QUERY: Final = "status"
HISTORY_PAGE_QUERY: Final = "history_page"

# Updates that are not actions.
CERTIFY: Final = "certify"
"""The order's evidence certificate, issued anew only when its facts changed (``CertifyInput`` -> ``Certificate``)."""

# Activities.
LOAD_POLICY: Final = "load_order_policy"
SEND_EMAIL: Final = "send_email"
REQUEST_PAYMENT: Final = "request_payment"
REFUND_PAYMENT: Final = "refund_payment"
CHARGE_CARD: Final = "charge_card"
VOID_INVOICE: Final = "void_invoice"
OPEN_SUPPORT: Final = "open_support_period"
FORWARD_SUPPORT_REQUEST: Final = "forward_support_request"
CLOSE_SUPPORT: Final = "close_support_period"
ISSUE_CERTIFICATE: Final = "issue_certificate"

# Activity error types the workflow acts on.
INVOICE_NOT_OPEN_ERROR: Final = "StripeInvoiceNotOpen"
"""``void_invoice`` found the invoice no longer open; paid (``details[0]["status"]``) is a payment, not a failure."""

# Update errors the client acts on.
ORDER_BUSY_ERROR: Final = "OrderBusy"
"""The order is handing over to its next run (continue-as-new) and takes no update
for that moment; ``OrderClient`` sends the same update again."""

# Erasure (``orders erase``): a workflow of its own per order, after the order closed.
ERASURE_WORKFLOW_TYPE: Final = "OrderErasureWorkflow"
ERASURE_ID_PREFIX: Final = "erasure-"
CHECK_ERASABLE: Final = "check_erasable"
CHECK_SEARCH_ATTRIBUTES: Final = "check_search_attributes"
ERASE_ORDER_EMAILS: Final = "erase_order_emails"
ERASE_ORDER_DOCUMENTS: Final = "erase_order_documents"
REDACT_STRIPE_CUSTOMER: Final = "redact_stripe_customer"
DESTROY_ORDER_KEY: Final = "destroy_order_key"
RECORD_ERASURE: Final = "record_erasure"
ERASURE_REFUSED_ERROR: Final = "ErasureRefused"
"""The order is open, or under a legal hold: nothing was erased, and the message says why."""


def erasure_workflow_id(order_id: str) -> str:
    """One erasure per order: a second ``orders erase`` finds the first."""
    return f"{ERASURE_ID_PREFIX}{order_id}"
