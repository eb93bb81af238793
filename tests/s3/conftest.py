"""An S3 API in the test process: moto's server on a free port, reached by the real boto3
client through its endpoint URL, exactly as the worker reaches MinIO or AWS S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import boto3
import pytest
from moto.server import ThreadedMotoServer

from activities.config import DocumentBucket

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# The double accepts any credentials; these only prove they are passed through.
ACCESS_KEY_ID = "orders-test-key"
SECRET_ACCESS_KEY = "orders-test-secret-never-printed"
REGION: Final = "eu-central-1"


@dataclass(frozen=True)
class S3Double:
    endpoint_url: str
    raw: S3Client  # behind the store's back: to create buckets, read and overwrite objects

    def new_bucket(self) -> str:
        name = f"orders-docs-{uuid.uuid4().hex[:10]}"
        self.raw.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        return name

    def env(self, bucket: str, **more: str) -> dict[str, str]:
        """The worker's environment for ``bucket`` (docs/deployment.md)."""
        return {
            "ORDERS_DOCUMENTS_BUCKET": bucket,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            **more,
        }

    def bucket(self, name: str, prefix: str = "") -> DocumentBucket:
        config = DocumentBucket.from_env(self.env(name, ORDERS_DOCUMENTS_PREFIX=prefix))
        assert config is not None
        return config


def _client(endpoint_url: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


@pytest.fixture(scope="session")
def s3_api() -> Iterator[S3Double]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        yield S3Double(endpoint_url=url, raw=_client(url))
    finally:
        server.stop()
