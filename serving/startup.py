"""The cyclic garbage collector during a serving process's start: off until the first model is in.

Starting a worker allocates ~10^6 long-lived objects (BentoML, pandas, scikit-learn, the model); the collector
walking them again and again made imports 10-15 % slower. ``serving.server`` pauses it as its first act (this
module imports nothing, so that act comes before any library is imported); the model holder collects once,
freezes what is left and turns the collector back on after its first attempt, loaded or not.
"""

from __future__ import annotations

import gc
import threading

_COLLECTOR_PAUSED = threading.Event()


def pause_collector_for_startup() -> None:
    gc.disable()
    _COLLECTOR_PAUSED.set()


def resume_collector() -> None:
    """Turn the collector back on if the start paused it (a no-op otherwise)."""
    if _COLLECTOR_PAUSED.is_set():
        _COLLECTOR_PAUSED.clear()
        gc.enable()
