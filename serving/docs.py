"""The service's own docs page and OpenAPI document: local assets, no third party, the project's words.

BentoML's page embeds Google Tag Manager (even with ``BENTOML_DO_NOT_TRACK=true``) and its OpenAPI description
links remote badges; FastAPI's ``/docs`` loads Swagger UI from a CDN. Here:

- ``GET /`` and ``GET /docs``: a page of our own, titled with the project, its description and the served model
  version, loading Swagger UI from ``/docs/assets/`` only. The files are the Swagger UI distribution BentoML
  ships in its wheel (``bentoml/_internal/server/static_content``, 1.8 MB already in the image), served from a
  fixed list. A Content-Security-Policy lets the page load nothing from another origin, so no script, tracker
  or image of a third party can load even if a future asset referred to one; the online validator badge is off.
- ``GET /docs.json``: BentoML's OpenAPI document with the title, description and version of this project and
  model, ``requestBody.required`` set, the error answers of /predict listed, /readyz described, and the
  example request built from the served version's training medians and modes (``projects.servable``), so the
  page's "Try it out" sends a realistic record and no real one. A version trained before examples were
  recorded gets the contract's example (middle of each range).
"""

from __future__ import annotations

import copy
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from projects.contract import Project
from projects.servable import contract_example
from serving.schema import RECORDS

ASSETS = {  # name -> media type: the only files /docs/assets/ serves
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-light-32x32.png": "image/png",
}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
ERRORS = {
    "400": "A record or field is invalid; 'error' names each one (records[i].field)",
    "408": "The body did not arrive within serving.body_timeout_seconds",
    "411": "No body and no Content-Length",
    "413": "The body is over serving.max_body_bytes",
    "415": "The body is not application/json (UTF-8)",
    "503": "No model loaded yet, or serving.max_concurrency calls in progress (Retry-After is set)",
}


def assets_dir() -> Path:
    """Where BentoML's wheel keeps the Swagger UI distribution."""
    from bentoml._internal import server

    return Path(server.__file__).parent / "static_content"


def title(project: Project, version: str | None) -> str:
    served = f"model version {version}" if version else "no model loaded yet"
    return f"{project.name}: {project.description} ({served})" if project.description else f"{project.name} ({served})"


def page(project: Project, version: str | None) -> str:
    name = html.escape(title(project, version))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{name}</title>
<link rel="stylesheet" href="./docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="./docs/assets/favicon-light-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="./docs/assets/swagger-ui-bundle.js"></script>
<script src="./docs/assets/init.js"></script>
</body>
</html>
"""


INIT_SCRIPT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "./docs.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
};
"""


class OpenAPIDocument:
    """BentoML's OpenAPI document rewritten for this project; built once, the served version filled per call."""

    def __init__(self, project: Project, spec: Callable[[], dict[str, Any]], readiness: dict[str, Any]) -> None:
        self.project, self._spec, self._readiness = project, spec, readiness
        self._base: dict[str, Any] | None = None

    def render(self, version: str | None, example: dict[str, Any] | None) -> dict[str, Any]:
        if self._base is None:
            self._base = self._rewritten(self._spec())
        spec = copy.deepcopy(self._base)
        spec["info"] = {
            "title": self.project.name,
            "description": self._description(version, example is not None),
            "version": version or "none loaded",
        }
        request = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        request["example"] = {RECORDS: [example or contract_example(self.project)]}
        return spec

    def _description(self, version: str | None, from_training: bool) -> str:
        served = f"Served model: `{self.project.name}` version {version}." if version else "No model is loaded yet."
        words = self.project.description or f"The {self.project.name} project's model."
        example = (
            "the training data's per-column medians and modes, not any real record"
            if from_training
            else "the contract alone (the middle of each range): this version recorded no training medians"
        )
        return (
            f"{words}\n\n{served} POST `/predict` scores a batch of records; `/readyz` says whether a model is "
            f"loaded and why not; `/metadata` which version answers. The example request is made of {example}."
        )

    def _rewritten(self, spec: dict[str, Any]) -> dict[str, Any]:
        spec = json.loads(json.dumps(spec))  # a plain copy BentoML's cached object cannot see
        predict = spec["paths"]["/predict"]["post"]
        predict["requestBody"]["required"] = True
        error = {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}
        for code, words in ERRORS.items():
            predict["responses"][code] = {"description": words, "content": {"application/json": error}}
        readiness = {"description": "", "content": {"application/json": {"schema": self._readiness}}}
        spec["paths"]["/readyz"] = {
            "get": {
                "tags": ["Infrastructure"],
                "summary": "Readiness: 200 once a model is loaded; 503 with the reason until then",
                "responses": {
                    "200": {**readiness, "description": "A model is loaded"},
                    "503": {**readiness, "description": "No model loaded yet; 'reason' says why"},
                },
            }
        }
        return spec
