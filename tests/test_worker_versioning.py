"""Worker versioning: the worker joins a Temporal Worker Deployment version when its
name and build id are in the environment, and orders are pinned to the version
they started on until they continue as new.

Unset, the worker is exactly as before (no deployment options). On the dev server:
a version made current takes new orders, pinned; a new current version leaves the
running order where it is until it continues as new, and its next run starts on
the new version.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import pytest
from temporalio.api.enums.v1 import VersioningBehavior as ProtoVersioningBehavior
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import WorkerDeploymentConfig

from activities.config import ConfigError, Settings, WorkerVersion
from tests.conftest import make_worker
from tests.helpers import eventually, start_order
from workflows import names
from workflows.models import AddNoteInput, OrderPolicy


def test_unset_means_unversioned() -> None:
    assert Settings.from_env({}).worker_version is None


def test_the_project_names_and_the_controller_names_are_read() -> None:
    ours = Settings.from_env({"ORDERS_DEPLOYMENT_NAME": "orders", "ORDERS_BUILD_ID": "2026-12-05.1"})
    assert ours.worker_version == WorkerVersion(deployment_name="orders", build_id="2026-12-05.1")
    # What the Temporal Worker Controller sets in the Deployments it creates.
    controller = Settings.from_env({"TEMPORAL_DEPLOYMENT_NAME": "orders-worker", "TEMPORAL_WORKER_BUILD_ID": "abc123"})
    assert controller.worker_version == WorkerVersion(deployment_name="orders-worker", build_id="abc123")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDERS_DEPLOYMENT_NAME": "orders"}, "ORDERS_DEPLOYMENT_NAME is set but ORDERS_BUILD_ID is not"),
        ({"ORDERS_BUILD_ID": "v1"}, "ORDERS_BUILD_ID is set but ORDERS_DEPLOYMENT_NAME is not"),
        ({"ORDERS_DEPLOYMENT_NAME": "orders.prod", "ORDERS_BUILD_ID": "v1"}, "must not contain a dot"),
        ({"ORDERS_DEPLOYMENT_NAME": "orders", "ORDERS_BUILD_ID": "v 1"}, "ORDERS_BUILD_ID"),
    ],
)
def test_half_a_version_is_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


async def test_an_unversioned_worker_has_no_deployment_options(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    worker = make_worker(dev_env.client, settings, task_queue)
    assert worker.config().get("deployment_config") is None


async def test_a_versioned_worker_pins_its_orders(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    version = WorkerVersion(deployment_name=f"orders-{uuid.uuid4().hex[:8]}", build_id="v1")
    worker = make_worker(dev_env.client, replace(settings, worker_version=version), task_queue)
    assert worker.config().get("deployment_config") == WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=version.deployment_name, build_id="v1"),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


async def make_current(client: Client, version: WorkerVersion) -> None:
    """What the Worker Controller (or `temporal worker deployment set-current-version`) does."""

    async def registered() -> bool:
        try:
            described = await client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=version.deployment_name)
            )
        except RPCError:
            return False
        return any(
            summary.deployment_version.build_id == version.build_id
            for summary in described.worker_deployment_info.version_summaries
        )

    async def made_current() -> bool:
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace, deployment_name=version.deployment_name, build_id=version.build_id
                )
            )
        except RPCError as error:
            # Until the new version has polled every task queue (workflow and activity) the old one has.
            if "missing active task queues" in error.message:
                return False
            raise
        return True

    await eventually(registered, f"the worker registered {version}")
    await eventually(made_current, f"{version} made current")


async def pinned_to(handle: WorkflowHandle[Any, Any]) -> tuple[int, str]:
    """The run's versioning behavior and the build it is on."""
    versioning = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return versioning.behavior, versioning.deployment_version.build_id


async def test_orders_stay_on_their_version_until_they_continue_as_new(
    dev_env: WorkflowEnvironment, settings: Settings, task_queue: str
) -> None:
    client = dev_env.client
    name = f"orders-{uuid.uuid4().hex[:8]}"
    v1, v2 = WorkerVersion(name, "v1"), WorkerVersion(name, "v2")
    # A small run budget: a few hundred notes make the order continue as new.
    small = replace(settings, policy=OrderPolicy(run_event_budget=200))
    async with make_worker(client, replace(small, worker_version=v1), task_queue):
        await make_current(client, v1)
        handle = await start_order(client, task_queue)
        first_run = (await handle.describe()).run_id

        async def on_v1() -> bool:
            return await pinned_to(handle) == (ProtoVersioningBehavior.VERSIONING_BEHAVIOR_PINNED, "v1")

        await eventually(on_v1, "the order pinned to v1")

        async with make_worker(client, replace(small, worker_version=v2), task_queue):
            await make_current(client, v2)
            await handle.signal(names.ADD_NOTE, AddNoteInput(text="after v2 became current"))
            # Still on v1: pinned orders do not move while they run.
            await eventually(on_v1, "the order still pinned to v1 after v2 became current")

            notes = [AddNoteInput(text=f"note {n}") for n in range(300)]
            for start in range(0, len(notes), 25):
                await asyncio.gather(*(handle.signal(names.ADD_NOTE, note) for note in notes[start : start + 25]))

            latest = client.get_workflow_handle(handle.id)

            async def next_run_on_v2() -> bool:
                if (await latest.describe()).run_id == first_run:
                    return False
                return await pinned_to(latest) == (ProtoVersioningBehavior.VERSIONING_BEHAVIOR_PINNED, "v2")

            await eventually(next_run_on_v2, "the next run pinned to v2", attempts=1_200)
