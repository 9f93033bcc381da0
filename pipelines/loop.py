"""The whole loop on one machine, as ``make run`` shows it. Each step is a named function; timings are kept."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from projects.workspace import Workspace

console = Console(soft_wrap=True)


@dataclass
class LoopState:
    ws: Workspace
    timings: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        console.rule(f"[bold]{name}")
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - started, 2)


def step_generate_baseline(state: LoopState, batches: int = 10) -> None:
    from projects.sources import generate_batches

    landed = generate_batches(state.ws.project, state.ws.store, "baseline", batches)
    for batch in landed:
        console.print(f"landed {batch.name} ({batch.rows} rows)")
    state.facts["landed"] = [b.name for b in landed]
    console.print(f"landing: {state.ws.store.url('landing')}")


STEPS: list[tuple[str, Callable[[LoopState], None]]] = [
    ("generate baseline batches", step_generate_baseline),
]


def run_loop(project: str) -> LoopState:
    state = LoopState(ws=Workspace.open(project))
    started = time.perf_counter()
    for name, fn in STEPS:
        with state.step(name):
            fn(state)
    state.facts["duration_s"] = round(time.perf_counter() - started, 2)
    return state
