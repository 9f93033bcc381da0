"""Wait until what a first training needs is there: MLflow's /health, the data bucket and, with --landing, a
first batch in the project's landing area.

The initial training Job is applied together with the database, the object store and MLflow. Started at once,
its first attempt would stop on an expected error (exit 2: MLflow unreachable, or too little data), which the
Job's podFailurePolicy rightly never retries. This runs as its init container instead: exit 0 once everything
is there, 1 when the deadline passes (a pod failure the Job retries). --landing is for projects whose batches
are landed from outside (a generator project in a workshop: k8s/README.md); a project fed by files has its own
ingest step after this one. It reads the same MLOPS_* variables as the platform code, and MLOPS_PROJECT.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from urllib.parse import urlparse

DEADLINE_SECONDS = 1200
PAUSE_SECONDS = 5


def tracking_problem(tracking_uri: str) -> str | None:
    """Why MLflow is not ready yet, or None. /health needs no allowed Host header."""
    url = tracking_uri.rstrip("/") + "/health"
    if not url.startswith(("http://", "https://")):
        return None  # a database URI: nothing to wait for here
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http(s) only, checked above
            return None if response.status == 200 else f"{url} answered {response.status}"
    except OSError as exc:
        return f"{url}: {exc}"


def bucket_problem(data_root: str, endpoint: str | None) -> str | None:
    """Why the data root's bucket is not reachable yet, or None (file:// roots need nothing)."""
    if not data_root.startswith("s3://"):
        return None
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = urlparse(data_root).netloc
    try:
        boto3.client("s3", endpoint_url=endpoint).head_bucket(Bucket=bucket)
    except (BotoCoreError, ClientError) as exc:
        return f"bucket {bucket!r} at {endpoint or 'the default S3 endpoint'}: {exc}"
    return None


def landed(data_root: str, endpoint: str | None, project: str) -> tuple[int, str]:
    """How many batches are in the project's landing area (up to 1000), and where that is.

    The layout is the data root's (docs/architecture.md). Raises OSError when the store cannot be listed.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    root = urlparse(data_root)
    prefix = "/".join(part for part in (root.path.strip("/"), project, "landing") if part) + "/"
    where = f"s3://{root.netloc}/{prefix}"
    try:
        listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=root.netloc, Prefix=prefix)
    except (BotoCoreError, ClientError) as exc:
        raise OSError(f"listing {where}: {exc}") from exc
    return int(listing.get("KeyCount", 0)), where


class Landing:
    """Batches are landed one after another: ready once some have landed and none arrived in the last pause."""

    def __init__(self) -> None:
        self.seen = -1

    def problem(self, data_root: str, endpoint: str | None, project: str) -> str | None:
        if not data_root.startswith("s3://"):
            return None
        try:
            count, where = landed(data_root, endpoint, project)
        except OSError as exc:
            return str(exc)
        settled, self.seen = count == self.seen, count
        if count == 0:
            return f"no batch in {where} yet"
        return None if settled else f"{count} batch(es) in {where}, waiting until no more arrive"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landing", action="store_true", help="also wait for a first batch in landing")
    args = parser.parse_args(argv)
    tracking_uri = os.environ.get("MLOPS_TRACKING_URI", "")
    data_root = os.environ.get("MLOPS_DATA_ROOT", "")
    endpoint = os.environ.get("MLOPS_S3_ENDPOINT_URL") or None
    project = os.environ.get("MLOPS_PROJECT", "")
    deadline = time.monotonic() + DEADLINE_SECONDS
    landing = Landing()
    while True:
        problems = [p for p in (tracking_problem(tracking_uri), bucket_problem(data_root, endpoint)) if p]
        if args.landing and not problems:
            problems = [p for p in [landing.problem(data_root, endpoint, project)] if p]
        if not problems:
            landed = ", a batch has landed" if args.landing else ""
            print(f"ready: MLflow answers, the data bucket exists{landed}")  # noqa: T201 - an init container's log
            return 0
        if time.monotonic() > deadline:
            print(f"not ready after {DEADLINE_SECONDS}s: {'; '.join(problems)}", file=sys.stderr)  # noqa: T201
            return 1
        print(f"waiting: {'; '.join(problems)}")  # noqa: T201
        time.sleep(PAUSE_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
