"""Create the stack's buckets once the object store answers (the compose `create-buckets` one-shot service).

Idempotent: a bucket that already exists is fine. Retries for a while because the S3 gateway of SeaweedFS
answers a little after its master's health check turns green.
"""

from __future__ import annotations

import os
import sys
import time


def create_buckets(names: list[str], endpoint: str, attempts: int = 30) -> None:
    import boto3
    from botocore.exceptions import ClientError, EndpointConnectionError

    client = boto3.client("s3", endpoint_url=endpoint)
    for attempt in range(1, attempts + 1):
        try:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            break
        except (EndpointConnectionError, ClientError) as exc:
            if attempt == attempts:
                raise SystemExit(f"object store at {endpoint} did not answer: {exc}") from exc
            time.sleep(2)
    for name in names:
        if name in existing:
            print(f"bucket {name!r} exists")  # noqa: T201 - a one-shot job reports on stdout
            continue
        client.create_bucket(Bucket=name)
        print(f"bucket {name!r} created at {endpoint}")  # noqa: T201


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: create_buckets.py BUCKET [BUCKET ...]")
    create_buckets(sys.argv[1:], os.environ.get("MLOPS_S3_ENDPOINT_URL", "http://s3:8333"))
