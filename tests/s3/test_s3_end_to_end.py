"""A confirmation's PDF kept in an S3 bucket from end to end: the production worker's
confirmation email stores it in the bucket (moto's S3 API, the real boto3 client), the
order keeps its hash, and the portal and ``orders document`` serve it hash-checked from
the bucket; an object changed behind the store's back is refused by both."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.responses import Response
from temporalio.testing import WorkflowEnvironment

from activities.config import Settings
from orderweb.documents import pdf_response
from starter import cli
from starter.console import CliError, Exit
from tests.conftest import make_worker
from tests.helpers import draft, eventually, start_order, view
from tests.s3.conftest import SECRET_ACCESS_KEY, S3Double
from workflows import names
from workflows.models import DocumentRef, IssueConfirmationInput


async def test_the_worker_stores_the_pdf_in_the_bucket_and_it_is_served_checked(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    task_queue: str,
    s3_api: S3Double,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = s3_api.new_bucket()
    env = s3_api.env(bucket, ORDERS_OUTBOX_DIR=str(settings.outbox_dir))
    in_bucket = replace(settings, documents_bucket=Settings.from_env(env).documents_bucket)
    async with make_worker(dev_env.client, in_bucket, task_queue):
        handle = await start_order(dev_env.client, task_queue)
        await handle.signal(names.ISSUE_CONFIRMATION, IssueConfirmationInput(confirmation=draft()))

        async def recorded() -> bool:
            return (await view(handle)).confirmations[0].document is not None

        await eventually(recorded, "the order records its PDF")
        order = await view(handle)
        document = order.confirmations[0].document
        assert isinstance(document, DocumentRef)

        # In the bucket, with its hash; nothing in the local directory.
        stored = s3_api.raw.get_object(Bucket=bucket, Key=document.id)
        data = stored["Body"].read()
        assert hashlib.sha256(data).hexdigest() == document.sha256 and data.startswith(b"%PDF")
        assert stored["Metadata"] == {"sha256": document.sha256}
        assert not settings.documents_path.exists()

        # The portal serves it from the bucket, checked against the order's hash.
        served = await pdf_response(in_bucket, order.order_id, 1, document)
        assert isinstance(served, Response) and served.body == data

        # `orders document`, configured by the environment as the worker is, reads the bucket.
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        address = str(dev_env.client.service_client.config.target_host)

        async def run(*argv: str) -> str:
            args = cli.parse_args([*argv, "--address", address])
            assert await args.handler(args) == Exit.OK
            return capsys.readouterr().out

        out = tmp_path / "v1.pdf"
        where = json.loads(await run("document", order.order_id, "--version", "1", "--out", str(out), "--json"))
        assert where["path"] == f"s3://{bucket}/{document.id}"
        assert where["sha256"] == document.sha256 and out.read_bytes() == data
        printed = (await run("document", order.order_id, "--version", "1")).replace("\n", "")
        assert f"is at s3://{bucket}/{document.id}" in printed

        # `orders evidence` reads the bucket too: the certificate the order just issued there.
        evidence = json.loads(await run("evidence", order.order_id, "--json"))
        assert evidence["path"] == f"s3://{bucket}/{evidence['id']}"
        certificate = s3_api.raw.get_object(Bucket=bucket, Key=evidence["id"])["Body"].read()
        assert hashlib.sha256(certificate).hexdigest() == evidence["sha256"]

        # Changed behind the store's back (the raw client keeps the old metadata): refused by both.
        s3_api.raw.put_object(Bucket=bucket, Key=document.id, Body=data + b"%% altered", Metadata=stored["Metadata"])
        refused = await pdf_response(in_bucket, order.order_id, 1, document)
        assert isinstance(refused, str) and "no longer matches" in refused
        out.unlink()
        with pytest.raises(CliError, match="refused") as tampered:
            await run("document", order.order_id, "--version", "1", "--out", str(out))
        assert tampered.value.code == Exit.REJECTED and not out.exists()
        assert "ORDERS_DOCUMENTS_BUCKET" in tampered.value.message
        assert SECRET_ACCESS_KEY not in tampered.value.message
