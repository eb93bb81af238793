"""Every message that crosses the workflow boundary, one pydantic model each.

Models carry their own validation, so a bad payload is refused with pydantic's
own wording before it reaches a running order. Business rules that depend on
the order's state (the right status, the current version, a known milestone)
live in the workflow. One module per part, importers use this package:

- ``fields``: the shared field types (text, money, currency, durations) and the enumerations;
- ``evidence``: who made a customer's decision, how, and on which document;
- ``certificate``: the evidence certificate: the facts it states, and what the order keeps of it;
- ``confirmation``: the customer and the order confirmation (line items, costs, terms);
- ``actions``: the one model each action takes, and its answer;
- ``view``: the order as its customer and staff see it (the ``status`` query), and its result;
- ``timeline``: the order's timeline entries, their kinds and the words they read as;
- ``activity_io``: what the workflow hands its activities and what they answer;
- ``state``: how an order starts, and the state that crosses continue-as-new;
- ``erasure``: erasing an order's personal data, the legal hold that stops it, and its record.
"""

from workflows.models.actions import *  # noqa: F403
from workflows.models.activity_io import *  # noqa: F403
from workflows.models.certificate import *  # noqa: F403
from workflows.models.confirmation import *  # noqa: F403
from workflows.models.erasure import *  # noqa: F403
from workflows.models.evidence import *  # noqa: F403
from workflows.models.fields import *  # noqa: F403
from workflows.models.state import *  # noqa: F403
from workflows.models.timeline import *  # noqa: F403
from workflows.models.view import *  # noqa: F403
