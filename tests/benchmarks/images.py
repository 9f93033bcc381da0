"""Image sizes and cold start against a plain baseline: ``python -m tests.benchmarks images``.

Baseline: the same base image + scikit-learn + FastAPI + uvicorn (versions from uv.lock, built the same way:
multi-stage, uv, bytecode compiled) serving a pickled LogisticRegression baked into the image. Goals from the
images issue: serving image <= 1.3x the baseline's size; cold start (docker run -> first 200 on POST
/predict) <= 1.5x the baseline container's. Our service also resolves the champion from a live MLflow server
(model as data), which the baseline does not: that is part of what is measured.
"""

from __future__ import annotations

import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers import containers

SIZE_GOAL = 1.3
START_GOAL = 1.5
BASELINE_REF = "mlops-bench-baseline:latest"

BASELINE_APP = """
import pickle
from fastapi import FastAPI
from pydantic import BaseModel

with open("/app/model.pkl", "rb") as f:
    MODEL = pickle.load(f)
app = FastAPI()


class Record(BaseModel):
    x1: float
    x2: float


class Batch(BaseModel):
    records: list[Record]


@app.post("/predict")
def predict(batch: Batch) -> dict:
    rows = [[r.x1, r.x2] for r in batch.records]
    return {"probabilities": MODEL.predict_proba(rows)[:, 1].tolist()}
"""

BASELINE_DOCKERFILE = """
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE} AS builder
ENV UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 \\
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY certs/ /tmp/certs/
RUN if [ -s /tmp/certs/ca-bundle.crt ]; then cp /tmp/certs/ca-bundle.crt /etc/ssl/certs/ca-certificates.crt; fi \\
 && python3 -m venv /opt/uv && /opt/uv/bin/pip install --quiet uv
COPY constraints.txt /tmp/constraints.txt
RUN python3 -m venv --without-pip /opt/venv \\
 && /opt/uv/bin/uv pip install --quiet --python /opt/venv/bin/python -c /tmp/constraints.txt \\
      scikit-learn fastapi uvicorn
FROM ${BASE_IMAGE}
COPY --from=builder /opt/venv /opt/venv
COPY app.py model.pkl /app/
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app
USER 10001:10001
CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]
"""


def build_baseline(base: str) -> float:
    """Build the baseline image; returns seconds."""
    from sklearn.linear_model import LogisticRegression

    with tempfile.TemporaryDirectory() as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(BASELINE_DOCKERFILE)
        (ctx / "app.py").write_text(BASELINE_APP)
        model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]], [0, 1, 0, 1])
        (ctx / "model.pkl").write_bytes(pickle.dumps(model))
        (ctx / "certs").mkdir()
        bundle = containers.REPO / "infra/certs/ca-bundle.crt"
        if bundle.exists():
            (ctx / "certs/ca-bundle.crt").write_bytes(bundle.read_bytes())
        uv = Path(sys.executable).parent / "uv"
        subprocess.run(
            [
                str(uv),
                "export",
                "--frozen",
                "--no-dev",
                "--no-emit-project",
                "--no-hashes",
                "--quiet",
                "-o",
                str(ctx / "constraints.txt"),
            ],
            cwd=containers.REPO,
            check=True,
            timeout=120,
        )
        started = time.perf_counter()
        containers.docker(
            "build", "-q", "--build-arg", f"BASE_IMAGE={base}", "-t", BASELINE_REF, str(ctx), timeout=1800
        )
        return time.perf_counter() - started


def cold_start(image: str, port: int, body: dict, options: tuple[str, ...] = ()) -> float:
    """Seconds from `docker run` to the first 200 on POST /predict."""
    started = time.perf_counter()
    with containers.container(image, options=("-p", f"127.0.0.1::{port}", *options)) as cid:
        url = containers.published_url(cid, port)
        containers.wait_for(f"{url}/predict", timeout=300, cid=cid, method="POST", body=body)
        return time.perf_counter() - started


def serving_cold_starts(images: containers.BuiltImages, runs: int) -> list[float]:
    """Our serving container against a live MLflow container with a champion registered by the jobs image."""
    from projects.contract import load_project
    from serving.schema import example_record

    record = example_record(load_project("churn", containers.REPO / "projects"))
    with containers.network() as (net, _):
        mlflow_opts = ("--network", net, "--network-alias", "mlflow", "-p", "127.0.0.1::5000")
        args = ("--host", "0.0.0.0", "--port", "5000", "--allowed-hosts", "mlflow,mlflow:5000,127.0.0.1:*")
        with containers.container(images.ref("mlflow"), *args, options=mlflow_opts) as mlflow_cid:
            containers.wait_for(f"{containers.published_url(mlflow_cid, 5000)}/health", timeout=300, cid=mlflow_cid)
            volume = containers.docker("volume", "create", f"{containers.PREFIX}-bench-jobs")
            try:
                jobs = (
                    "docker",
                    "run",
                    "--rm",
                    "--network",
                    net,
                    "-v",
                    f"{volume}:/var/lib/mlops",
                    "-e",
                    "MLOPS_TRACKING_URI=http://mlflow:5000",
                    images.ref("jobs"),
                )
                for step in (("data", "generate", "--batches", "5", "--rows", "300"), ("validate",), ("train",)):
                    subprocess.run([*jobs, *step, "--project", "churn"], check=True, capture_output=True, timeout=600)
            finally:
                containers.docker("volume", "rm", "-f", volume, check=False)
            opts = ("--network", net, "--read-only", "-e", "MLOPS_TRACKING_URI=http://mlflow:5000")
            return [cold_start(images.ref("serving"), 3000, {"records": [record]}, opts) for _ in range(runs)]


def run(quick: bool = False) -> str:
    problem = containers.engine_problem()
    base = containers.resolve_base_image() if problem is None else None
    if problem or base is None:
        return f"## Images\n\nSkipped: {problem or 'no base image (infra/scripts/offline-base-image.sh)'}.\n"
    runs = 1 if quick else 5
    images = containers.build_images(base)
    baseline_build = build_baseline(base)
    baseline_mb = containers.image_size_mb(BASELINE_REF)
    sizes = {name: containers.image_size_mb(images.ref(name)) for name in containers.IMAGES}
    base_starts = [cold_start(BASELINE_REF, 8000, {"records": [{"x1": 0.1, "x2": 0.7}]}) for _ in range(runs)]
    ours = serving_cold_starts(images, runs)
    base_s, ours_s = statistics.median(base_starts), statistics.median(ours)
    size_ratio, start_ratio = sizes["serving"] / baseline_mb, ours_s / base_s
    lines = [
        "## Images",
        "",
        f"Base image `{base}`; images built with the legacy builder (build of all three, cached: "
        f"{images.seconds:.0f} s; baseline: {baseline_build:.0f} s). Median of {runs} cold start(s).",
        "",
        "| image | size (MB) | vs baseline |",
        "|---|---:|---:|",
        f"| baseline: base + scikit-learn + FastAPI + uvicorn | {baseline_mb:.0f} | 1.00x |",
        *[f"| mlops-{name} | {mb:.0f} | {mb / baseline_mb:.2f}x |" for name, mb in sizes.items()],
        "",
        "| docker run -> first 200 on POST /predict | seconds | ratio | goal | met |",
        "|---|---:|---:|---:|---|",
        f"| baseline FastAPI container (model baked in) | {base_s:.2f} | 1.00x | | |",
        f"| mlops-serving (BentoML, champion from MLflow) | {ours_s:.2f} | {start_ratio:.2f}x | <= {START_GOAL}x "
        f"| {'yes' if start_ratio <= START_GOAL else 'no'} |",
        "",
        f"Serving image size: {size_ratio:.2f}x the baseline (goal <= {SIZE_GOAL}x: "
        f"{'met' if size_ratio <= SIZE_GOAL else 'not met'}). The difference is what the service needs beyond "
        "the baseline: pandas, mlflow-skinny, BentoML, s3fs and fastparquet (the inference log; no pyarrow). The "
        "serving container runs one process that fetches the champion in a second one while it imports "
        '(serving/README.md, "One process per container").',
    ]
    return "\n".join(lines) + "\n"
