"""A real S3-speaking server on 127.0.0.1: moto in server mode (`ThreadedMotoServer`, a Werkzeug
server in a thread: https://docs.getmoto.org/en/latest/docs/server_mode.html). It answers boto3
over HTTP as S3 does and refuses what S3 refuses (`NoSuchKey`, `NoSuchBucket`); nothing reaches
AWS, because every client is given this server's address as its endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

HOST = "127.0.0.1"
REGION = "us-east-1"
# moto accepts any credentials; explicit ones keep boto3 from looking for real ones.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The moto server's base URL, on a free port of 127.0.0.1, for the whole test session."""
    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_settings(endpoint: str, bucket: str, prefix: str = "") -> dict:
    """The ATTACHMENTS_* settings of an app that keeps its files in `bucket` on that server."""
    return {
        "ATTACHMENTS_BACKEND": "s3",
        "ATTACHMENTS_S3_BUCKET": bucket,
        "ATTACHMENTS_S3_PREFIX": prefix,
        "ATTACHMENTS_S3_ENDPOINT_URL": endpoint,
        "ATTACHMENTS_S3_REGION": REGION,
        "ATTACHMENTS_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "ATTACHMENTS_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }


@pytest.fixture
def s3_bucket(s3_endpoint) -> Iterator[tuple[object, str]]:
    """A boto3 client of the server and a new empty bucket of its own for one test."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    bucket = f"attachments-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield client, bucket
    for listed in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=listed["Key"])
    client.delete_bucket(Bucket=bucket)
