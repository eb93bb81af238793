"""The service-order worker: ``python worker.py`` runs it alone.

It connects with Temporal's environment configuration (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, the TLS variables and profiles),
defaulting to ``localhost:7233``, and stops gracefully on SIGINT or SIGTERM.

A server that is not up yet is retried with backoff for
``ORDERS_CONNECT_TIMEOUT`` seconds (compose and Kubernetes start workers and
servers together). Then, like every start-up failure, it ends with one
``error:`` line and the exit code ``orders worker`` uses for it: 2 for bad
configuration, 4 for an unreachable server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, NoReturn

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.converter import (
    DataConverter,
    SerializationContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.certificates import CertificateActivities
from activities.config import ConfigError, Settings
from activities.document_store import open_document_store
from activities.email import EmailActivities, backend_from_settings
from activities.erasure import ErasureActivities
from activities.outgoing import EmailBackend
from activities.payments import PaymentActivities
from activities.stripe_payments import StripeGateway
from activities.support import SupportActivities
from orderclient import connection, health, tracing
from orderclient.connection import TemporalUnreachableError, connect_with_retry, metrics_runtime
from ordersecurity.codec import (
    KEYS_ENV,
    SWITCH_ENV,
    EncryptionCodec,
    KeyConfigError,
    keys_from_environment,
    order_keys_from_environment,
    require_encryption,
)
from ordersecurity.key_store import STORE_ENV, KeyStoreError
from workflows.activity_refs import PolicyRefs
from workflows.converter import data_converter
from workflows.erasure import OrderErasureWorkflow
from workflows.models import OrderPolicy
from workflows.names import LOAD_POLICY, TASK_QUEUE
from workflows.order import ServiceOrderWorkflow

log = logging.getLogger("orders.worker")


class PolicyActivities(PolicyRefs):
    def __init__(self, policy: OrderPolicy) -> None:
        self._policy = policy

    @activity.defn(name=LOAD_POLICY)
    async def load_order_policy(self) -> OrderPolicy:
        """The worker's default durations, recorded once in each order's history."""
        return self._policy


def policy_of(settings: Settings) -> OrderPolicy:
    """What each order records of the worker's configuration when it starts."""
    return settings.policy.model_copy(
        update={
            "bank_transfer": settings.bank_details,
            "stripe": settings.stripe_api_key is not None,
            # An order that receives payloads in clear text while this worker encrypts tells operations.
            "plaintext_alerts": keys_from_environment().ring.active,
        }
    )


def activities_for(settings: Settings, email_backend: EmailBackend | None = None) -> Sequence[Any]:
    """The worker's activities; ``email_backend`` takes the place of the configured one."""
    documents = open_document_store(settings)  # the order's PDFs (activities/document_store.py)
    email = EmailActivities(settings, email_backend or backend_from_settings(settings), documents)
    stripe = StripeGateway.from_settings(settings)
    payments = PaymentActivities(settings, stripe)
    support = SupportActivities(email)
    certificates = CertificateActivities(settings, documents)
    # The same keys as the codec's, so that a destroyed key leaves this process's cache too.
    erasure = ErasureActivities(settings, documents, stripe, order_keys_from_environment())
    return [
        PolicyActivities(policy_of(settings)).load_order_policy,
        email.send_email,
        payments.request_payment,
        payments.refund_payment,
        payments.charge_card,
        payments.void_invoice,
        support.open_support_period,
        support.forward_support_request,
        support.close_support_period,
        certificates.issue_certificate,
        erasure.check_erasable,
        erasure.check_search_attributes,
        erasure.erase_order_emails,
        erasure.erase_order_documents,
        erasure.redact_stripe_customer,
        erasure.destroy_order_key,
        erasure.record_erasure,
    ]


# On SIGTERM, activities in flight (a card charge, an email) get this long to
# finish before they are cancelled and left to another worker's retry.
GRACEFUL_SHUTDOWN = timedelta(seconds=30)


# The project's workflow-side modules, imported once per worker instead of once
# per order. The sandbox re-imports a workflow's module for each run it starts:
# for workflows/order.py that cost every cached order about 250 KiB of classes,
# functions and code objects (python -m bench: 376 KiB per parked order against
# 106 KiB for a probe; 123 KiB with this). These modules hold constants and code,
# no state one run could leave for another. The price: the sandbox no longer
# wraps what they import, so a call such as ``datetime.now()`` in them would not
# be refused at run time. tests/workflows/test_replay.py therefore replays every
# committed history in the SDK's default sandbox too, which still refuses it.
PASSTHROUGH_MODULES = ("workflows",)


def workflow_runner(converter: DataConverter = data_converter) -> WorkflowRunner:
    """The sandbox every order runs in."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    if needs_only_the_workflow(converter):
        return ContextFreeSandboxRunner(restrictions=restrictions)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def needs_only_the_workflow(converter: DataConverter) -> bool:
    """Whether the converter's codec and storage encode every payload of a workflow
    alike, whatever activity or command it belongs to: the project's codec reads
    only the workflow id from its context (the order's own key)."""
    codec = converter.payload_codec
    context_free = not isinstance(codec, WithSerializationContext) or isinstance(codec, EncryptionCodec)
    return context_free and converter.external_storage is None


class ContextFreeSandboxRunner(SandboxedWorkflowRunner):
    """The SDK's sandbox, without a cost this project never uses.

    Around each workflow task the worker passes every payload through the codec
    and external storage, three passes each way, and before each it asks the
    workflow instance which serialization context the payload belongs to. The
    sandboxed instance answers by executing code inside the sandbox, so each
    payload costs several sandbox entries: in ``python -m bench``, that was the
    whole gap in CPU per workflow task between an order and the floor workflow
    (its timer and activity summaries are payloads too). The project's codec
    needs only the workflow's id from the context (``needs_only_the_workflow``):
    the order's own context, made once per run and given here without entering
    the sandbox, is the answer for every command. Everything else is the
    sandbox's own.
    """

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextFreeInstance(super().create_instance(details_of_its_own(det)))


# Memory per cached order. A protobuf sub-message, even an empty map or list of
# one, keeps the whole message it came from alive (upb allocates a message and
# its parts in one arena). The SDK's instance keeps pieces of three: the first
# activation (the info's headers and memo, the last completion result, the
# workflow input's headers), the last activation (its deployment version and
# internal flags) and the last completion. Copies of the pieces, made below,
# let each message go once its workflow task is done: a parked order's C heap in
# use fell from 84 to 70.5 KiB (300 to 600 parked; docs/deployment.md, "Where a
# cached order's memory goes"). tests/test_worker.py checks that nothing is kept.


def details_of_its_own(det: WorkflowInstanceDetails) -> WorkflowInstanceDetails:
    """``det`` with copies of what it takes from the run's first activation."""
    info = dataclasses.replace(det.info, headers=copied(det.info.headers), raw_memo=copied(det.info.raw_memo))
    last_completion_result = Payloads()
    last_completion_result.CopyFrom(det.last_completion_result)
    last_failure = None
    if det.last_failure is not None:
        last_failure = Failure()
        last_failure.CopyFrom(det.last_failure)
    return dataclasses.replace(det, info=info, last_completion_result=last_completion_result, last_failure=last_failure)


def copied(payloads: Mapping[str, Payload]) -> dict[str, Payload]:
    """Payloads that no longer belong to the message they were read from."""
    copies = {}
    for key, payload in payloads.items():
        copies[key] = Payload()
        copies[key].CopyFrom(payload)
    return copies


def forget_task_messages(instance: Any) -> None:
    """Let go of the activation and completion the SDK's instance keeps from its last task.

    It reads them only while it handles an activation, and ``activate`` sets
    them all again before it does. The workflow input's headers, from the first
    activation, are read by interceptors when the run starts, and copied.
    The completion becomes an empty one, not None: a run dropped with its worker
    still closes its coroutines, which may add a command nobody sends.
    """
    instance._current_completion = WorkflowActivationCompletion()
    instance._deployment_version_for_current_task = None
    instance._current_internal_flags = list(instance._current_internal_flags)
    started = instance._workflow_input
    if started is not None and not isinstance(started.headers, dict):
        started.headers = copied(started.headers)


class _ContextFreeInstance(WorkflowInstance):
    def __init__(self, sandboxed: WorkflowInstance) -> None:
        self._sandboxed = sandboxed
        # The SDK's own instance, inside the sandbox (SandboxedWorkflowRunner's _Instance and InSandbox).
        self._sdk_instance = sandboxed.globals_and_locals["__temporal_in_sandbox"].instance  # type: ignore[attr-defined]
        info = sandboxed.get_info()
        # Equal to the context the worker encodes the whole activation with, so it reuses that converter.
        self._context = WorkflowSerializationContext(namespace=info.namespace, workflow_id=info.workflow_id)
        self._store_context = StorageDriverStoreContext(
            target=StorageDriverWorkflowInfo(
                id=info.workflow_id, run_id=info.run_id, type=info.workflow_type, namespace=info.namespace
            )
        )

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        completion = self._sandboxed.activate(act)
        forget_task_messages(self._sdk_instance)
        return completion

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        return self._context

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        return self._store_context

    def get_info(self) -> workflow.Info:
        return self._sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        return self._sandboxed.get_thread_id()


def build_worker(
    client: Client, settings: Settings, task_queue: str = TASK_QUEUE, email_backend: EmailBackend | None = None
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ServiceOrderWorkflow, OrderErasureWorkflow],
        activities=activities_for(settings, email_backend),
        workflow_runner=workflow_runner(client.data_converter),
        max_cached_workflows=settings.max_cached_workflows,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        deployment_config=deployment_config(settings),
    )


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker versioning, when the environment names a version: every order is pinned to the
    version it starts on (continuation.py moves it on when it continues as new). None, as
    before versioning existed, when it does not: workflow.patched then keeps old orders safe."""
    version = settings.worker_version
    if version is None:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=version.deployment_name, build_id=version.build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


def log_encryption() -> None:
    """One line at start: which key encrypts, or that personal data is stored in clear text.

    ``KeyConfigError`` (a malformed ``ORDERS_ENCRYPTION_KEYS``, or none without
    ``ORDERS_ENCRYPTION=off``: ``EncryptionRequired``) is a ``ValueError``
    the caller turns into a configuration error before any payload is written.
    """
    source = require_encryption()
    if not source.ring.active:
        log.warning(
            "%s=off and %s is not set: customers' personal data is stored UNENCRYPTED in Temporal "
            "(for local experiments only; see docs/deployment.md, 'Encryption keys')",
            SWITCH_ENV,
            KEYS_ENV,
        )
        return
    log.info(
        "payloads encrypted with key id %s (from %s); key ids that decrypt: %s",
        source.ring.encrypting_key_id,
        source.origin,
        ", ".join(source.ring.ids),
    )
    order_keys = order_keys_from_environment()
    if order_keys is None:
        log.warning("no key store (%s): orders use the master key alone and cannot be erased", STORE_ENV)
    else:
        log.info("each order has its own key, kept in %s", order_keys.store.describe())


async def run_worker(
    client: Client, settings: Settings, stop: asyncio.Event, probe: health.Probe | None = None
) -> None:
    """Run until ``stop`` is set, then let in-flight tasks finish; ``probe`` reports it to /readyz and /healthz."""
    task_queue = connection.task_queue()
    log_encryption()
    worker = build_worker(client, settings, task_queue)
    if probe is not None:
        probe.ready = lambda: worker.is_running and not stop.is_set()
        # A worker that stopped without being asked (a fatal poll error) is restarted by its liveness probe.
        probe.live = lambda: worker.is_running or stop.is_set() or not worker.is_shutdown
    async with worker:
        log.info("worker polling task queue %s on %s", task_queue, client.namespace)
        await stop.wait()
    log.info("worker stopped")


async def start_health(address: str | None) -> health.Probe | None:
    """Kubernetes' probes (``ORDERS_HEALTH_ADDRESS``), answering before the worker connects:
    alive while it waits for its server, ready once it polls."""
    if not address:
        return None
    probe = health.Probe()
    host, port = health.split_address(address)
    await health.serve(host, port, lambda: probe.ready(), lambda: probe.live())
    log.info("health on http://%s%s (liveness) and %s (readiness)", address, health.LIVE_PATH, health.READY_PATH)
    return probe


def install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    try:
        require_encryption()  # no key and not switched off: refuse to start (EncryptionRequired says how)
        order_keys_from_environment()  # the per-order key store opens now, or the worker does not start
    except (KeyConfigError, KeyStoreError) as error:
        raise ConfigError(str(error)) from None
    try:
        tracing.configure("orders-worker")  # OTEL_*: off when unset (orderclient/tracing.py)
    except tracing.TracingConfigError as error:
        raise ConfigError(str(error)) from None
    probe = await start_health(settings.health_address)
    client = await connect_with_retry(
        runtime=metrics_runtime(settings.metrics_address), timeout=settings.connect_timeout
    )
    if settings.metrics_address:
        log.info("Prometheus metrics on http://%s/metrics", settings.metrics_address)
    stop = asyncio.Event()
    install_stop_handlers(stop)
    try:
        await run_worker(client, settings, stop, probe)
    finally:
        tracing.shutdown()  # export the last spans: the process ends with os._exit


# The exit codes of ``orders worker`` (starter/cli.py, Exit) for the same failures.
EXIT_BAD_CONFIG = 2
EXIT_UNREACHABLE = 4


def run() -> int:
    """``python worker.py``: the worker, with one clean line for a start-up failure."""
    try:
        asyncio.run(main())
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except TemporalUnreachableError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    return 0


def exit_without_finalizing(code: int) -> NoReturn:
    """Exit as ``orders`` does (starter/cli.py, ``run``): interpreter finalization
    can abort the process while the client's Rust threads are still around
    ("PyGILState_Release ... must be current when releasing",
    temporalio/sdk-python#300), turning exit code 4 into 134 now and then."""
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_without_finalizing(run())
