"""Where attached files are kept, behind one small interface (`Storage`): a folder of this server
(`LocalStorage`, the default) or an S3-compatible bucket shared by several web servers
(`S3Storage`). `storage()` is the app's, built once from its settings (checked when the settings
load: `portal.core.config`).

Keys are chosen by the portal, never by people: relative paths of letters, digits and `/ _ . -`
with no `..` part, so a key cannot leave the folder or the prefix.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

import boto3
from botocore.config import Config
from flask import current_app

from portal.core.config import AttachmentsBackend

KEY = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")
KEY_MAX = 900  # S3 keys reach 1,024 bytes; the prefix needs some
EXTENSION_NAME = "attachments_storage"
S3_CONNECT_TIMEOUT_SECONDS = 3.05
S3_READ_TIMEOUT_SECONDS = 30.0
S3_MAX_ATTEMPTS = 3


class FileMissing(Exception):
    """No file is stored under that key."""


class Storage(Protocol):
    """A place for files, each stored whole under a key."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""

    def open(self, key: str) -> BinaryIO:
        """The stored bytes as a readable binary file (close it); FileMissing when there are none."""

    def delete(self, key: str) -> None:
        """Remove the file under `key`; a missing one is already removed."""


def checked_key(key: str) -> str:
    """`key` when it is a safe relative path; ValueError otherwise."""
    if len(key) > KEY_MAX or not KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalStorage:
    """Files in a folder of this server, written atomically: a temporary file beside the target,
    flushed to disk, then renamed over it, so a reader never sees half a file."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise FileMissing(key) from error

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """Files in an S3 bucket (AWS, or any S3-compatible service), under `prefix`, through boto3's
    `put_object` (with the content type), `get_object` (its `Body` a botocore `StreamingBody`; a
    missing key raises `client.exceptions.NoSuchKey`:
    https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/s3/client/exceptions/NoSuchKey.html)
    and `delete_object` (S3 answers 204 whether or not the key exists)."""

    def __init__(self, bucket: str, prefix: str, client):
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = client

    def _object_key(self, key: str) -> str:
        return self.prefix + checked_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data, ContentType=content_type)

    def open(self, key: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except self.client.exceptions.NoSuchKey as error:
            raise FileMissing(key) from error
        # StreamingBody is a raw stream (readinto, readable); buffered, it reads like a file.
        return io.BufferedReader(answer["Body"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))


def s3_client(config):
    """A boto3 S3 client from the ATTACHMENTS_S3_* settings; without keys, boto3's own
    credential chain (environment, profile, instance role) supplies them."""
    return boto3.client(
        "s3",
        endpoint_url=config["ATTACHMENTS_S3_ENDPOINT_URL"] or None,
        region_name=config["ATTACHMENTS_S3_REGION"] or None,
        aws_access_key_id=config["ATTACHMENTS_S3_ACCESS_KEY_ID"] or None,
        aws_secret_access_key=config["ATTACHMENTS_S3_SECRET_ACCESS_KEY"] or None,
        config=Config(
            connect_timeout=S3_CONNECT_TIMEOUT_SECONDS,
            read_timeout=S3_READ_TIMEOUT_SECONDS,
            retries={"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
        ),
    )


def storage_from_settings(config) -> Storage:
    """The storage ATTACHMENTS_BACKEND names, from the app's settings."""
    if config["ATTACHMENTS_BACKEND"] == AttachmentsBackend.S3:
        return S3Storage(config["ATTACHMENTS_S3_BUCKET"], config["ATTACHMENTS_S3_PREFIX"], s3_client(config))
    return LocalStorage(Path(config["ATTACHMENTS_DIR"]))


def storage() -> Storage:
    """The current app's storage, built once per app (boto3 clients are safe to share between
    threads)."""
    extensions = current_app.extensions
    if EXTENSION_NAME not in extensions:
        extensions[EXTENSION_NAME] = storage_from_settings(current_app.config)
    return extensions[EXTENSION_NAME]
