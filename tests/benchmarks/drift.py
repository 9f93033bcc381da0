"""Benchmark of the drift decision: 1e4, 1e5, 1e6 rows x 20 monitored columns.

Three ways to decide on the same window against the same 5,000-row reference:
- this monitor: ``monitoring.drift.assess_drift`` (a time-stratified sample of ``drift.sample_rows`` = 20,000
  rows, then Evidently's DataDriftPreset with the pinned methods),
- plain Evidently: the same preset, same pinned methods, on the whole window,
- the numpy floor: PSI with the reference's bins and proportions precomputed (what a decision costs at least).

Each (size, method) runs in a fresh process, so one measurement's freed memory cannot hide another's; peak memory
is the kernel's high-water mark (VmHWM, reset just before the call) above the resident size at the call.
A second table measures the statistical side: how often the sample and the full window reject, with and
without a shift, using the same scipy tests Evidently's ``ks`` and our ``chi2_contingency`` call.

Goals (issue 7): >= 10x faster than plain Evidently at 1e6 rows, peak memory <= 2x the window's raw size,
identical decisions on the shifted columns; the ratio to the numpy floor is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tests.helpers.system import REPO

EXTRA = 8  # churn monitors 12 columns (11 features + the sensitive attribute); 8 numeric features make 20
REFERENCE_ROWS = 5000
SHIFTED = ("tenure_months", "monthly_charges", "data_usage_gb", "support_calls", "contract", "internet_service")
METHODS = ("monitor_log", "monitor", "evidently", "psi")
LABELS = {
    "monitor_log": "this monitor, from the log parts",
    "monitor": "this monitor, window in memory",
    "evidently": "plain Evidently, full window",
    "psi": "numpy PSI floor",
}
PART_ROWS = 5000  # rows per inference-log part file
VERSION = "1"
PSI_THRESHOLD = 0.1


# --------------------------------------------------------------------------------------------- data
def bench_project() -> Any:
    """churn's contract + 8 numeric features, with the two-sample categorical test pinned."""
    from monitoring.drift import CHI2_TWO_SAMPLE
    from projects.contract import parse_project

    data = yaml.safe_load((REPO / "projects" / "churn" / "project.yaml").read_text())
    data["schema"]["features"] += [{"name": f"x{i}", "type": "numeric", "min": 0, "max": 100} for i in range(EXTRA)]
    data["drift"] = {**data["drift"], "cat_method": CHI2_TWO_SAMPLE, "sample_rows": 20000}
    return parse_project(data, "benchmark contract (churn + 8 numeric features)")


def make_frame(project: Any, scenario: str, rows: int, day: dt.date, seed: int) -> pd.DataFrame:
    """Generator rows typed as the inference log types them, with a ``served_at`` spread over one day."""
    from pipelines.datasets import coerce_types
    from projects.churn.generator import ChurnGenerator
    from projects.inference_log import SERVED_AT

    frame = coerce_types(project, ChurnGenerator(project, seed).batch(day, scenario, rows))
    rng = np.random.default_rng(seed)
    for i in range(EXTRA):
        frame[f"x{i}"] = rng.uniform(0, 100, rows).round(3)
    frame[SERVED_AT] = frame[project.schema.timestamp.name]
    schema = project.schema
    keep = [*schema.model_inputs, schema.sensitive.name, SERVED_AT]
    return frame[keep]


def raw_megabytes(frame: pd.DataFrame) -> float:
    """The window as its columns hold it: 8 bytes per number, per time, per string reference, 1 per boolean."""
    return float(frame.memory_usage(index=False, deep=False).sum()) / 2**20


# --------------------------------------------------------------------------------------------- measuring
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: VmHWM := VmRSS
    except OSError:
        return False
    return True


def psi_floor(reference: pd.DataFrame, window: pd.DataFrame, project: Any) -> dict[str, bool]:
    """PSI per column with the reference's deciles (numeric) or proportions (categorical) computed beforehand."""
    from monitoring.drift import drift_columns

    columns = drift_columns(project)
    cached = {}
    for name in columns.numerical:  # "at training time"
        values = reference[name].dropna().to_numpy()
        edges = np.unique(np.quantile(values, np.linspace(0, 1, 11))[1:-1])
        cached[name] = (edges, np.bincount(np.searchsorted(edges, values), minlength=len(edges) + 1) / len(values))
    for name in columns.categorical:
        cached[name] = reference[name].astype("string").value_counts(normalize=True)
    return _psi_decide(window, cached, columns)


def _psi_decide(window: pd.DataFrame, cached: dict[str, Any], columns: Any) -> dict[str, bool]:
    flags = {}
    for name in columns.numerical:
        edges, ref = cached[name]
        values = window[name].to_numpy()
        values = values[~np.isnan(values)]
        cur = np.bincount(np.searchsorted(edges, values), minlength=len(edges) + 1) / len(values)
        flags[name] = _psi(ref, cur) >= PSI_THRESHOLD
    for name in columns.categorical:
        ref = cached[name]
        cur = window[name].value_counts(normalize=True)
        cur.index = cur.index.astype("string")
        keys = ref.index.union(cur.index)
        flags[name] = (
            _psi(ref.reindex(keys, fill_value=0).to_numpy(), cur.reindex(keys, fill_value=0).to_numpy())
            >= PSI_THRESHOLD
        )
    return flags


def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    ref, cur = np.clip(ref, 1e-4, None), np.clip(cur, 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def decide(method: str, reference: pd.DataFrame, window: pd.DataFrame, project: Any) -> dict[str, bool]:
    """The per-column flags of one method (what the goals compare)."""
    from monitoring.drift import assess_drift, drift_columns, evidently_frame, read_snapshot, run_evidently

    if method == "monitor":
        outcome = assess_drift(reference, window, project, seed=1, order_by="served_at")
        return {c.column: c.drifted for c in outcome.columns}
    if method == "evidently":
        columns = drift_columns(project)
        booleans = frozenset(f.name for f in project.schema.features if f.type.value == "boolean")
        current = evidently_frame(window, columns, "window", booleans)
        ref = evidently_frame(reference, columns, "reference", booleans)
        results, *_ = read_snapshot(run_evidently(ref, current, project, columns), columns)
        return {c.column: c.drifted for c in results}
    return psi_floor(reference, window, project)


def from_log(data_dir: Path, rows: int, reference: pd.DataFrame, project: Any) -> dict[str, bool]:
    """The monitor's own path: sample while reading the log parts (Arrow), then Evidently on the sample."""
    from monitoring.drift import assess_drift
    from monitoring.monitor import sample_window
    from projects.storage import DataRoot

    store = DataRoot.from_url(f"file://{data_dir / f'log-{rows}'}").project(project.name)
    bounds = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    window = sample_window(store, project, VERSION, bounds)
    outcome = assess_drift(reference, window.sample, project, order_by="served_at", window_rows=window.rows)
    assert outcome.window_rows == rows, (outcome.window_rows, rows)
    return {c.column: c.drifted for c in outcome.columns}


def child(method: str, data_dir: Path, rows: int, repeats: int) -> dict[str, Any]:
    """One measurement in this (fresh) process: warm up, then time and peak-measure the decision."""
    project = bench_project()
    reference = pd.read_parquet(data_dir / "reference.parquet")
    window = None if method == "monitor_log" else pd.read_parquet(data_dir / f"window-{rows}.parquet")
    if method != "psi":
        warm = pd.read_parquet(data_dir / "window-10000.parquet").head(1000)
        decide("monitor", reference, warm, project)  # imports and Evidently's first-call setup
        del warm
    times, flags, peak_kb = [], {}, None
    for _ in range(repeats):
        measured = _reset_peak()
        start_kb = _status_kb("VmRSS")
        started = time.perf_counter()
        if window is None:
            flags = from_log(data_dir, rows, reference, project)
        else:
            flags = decide(method, reference, window, project)
        times.append(time.perf_counter() - started)
        if measured and peak_kb is None:
            peak_kb = _status_kb("VmHWM") - start_kb
    raw = json.loads((data_dir / "raw_mb.json").read_text())[str(rows)]
    return {
        "method": method,
        "rows": rows,
        "seconds": min(times),
        "peak_extra_mb": _mb(peak_kb),
        "raw_mb": raw,
        "flags": flags,
    }


def _mb(kb: int | None) -> float | None:
    return None if kb is None else kb / 1024


def _spawn(method: str, data_dir: Path, rows: int, repeats: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "tests.benchmarks.drift", "--child", method, str(data_dir), str(rows), str(repeats)]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False, env={**os.environ})
    if done.returncode != 0:
        raise RuntimeError(f"{method} on {rows} rows failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------- the statistics
CORRECTIONS = ("none", "bonferroni", "bh")


def correction_rates(seeds: int, columns: int = 12, shifted: int = 3, shift: float = 0.05) -> list[dict[str, Any]]:
    """What drift.correction does with ``columns`` tested per window (ks, a 20,000-row sample vs 5,000 reference
    rows): the share of no-drift windows with any column flagged, and the share of truly shifted columns caught
    when ``shifted`` of them moved by ``shift`` standard deviations (the rest unshifted)."""
    from scipy.stats import ks_2samp

    from monitoring.drift import ColumnDrift, corrected
    from projects.contract import Correction

    project = bench_project()
    rng = np.random.default_rng(11)
    out = []
    for correction in CORRECTIONS:
        drift = project.drift.model_copy(update={"correction": Correction(correction), "drift_share": 0.3})
        variant = project.model_copy(update={"drift": drift})
        any_false, caught, wrong = 0, 0, 0
        for moved in (0, shifted):
            for _ in range(seeds):
                results = []
                for i in range(columns):
                    window = rng.normal(shift if i < moved else 0.0, 1, 20_000)
                    p = float(ks_2samp(rng.normal(0, 1, REFERENCE_ROWS), window).pvalue)
                    results.append(ColumnDrift(f"c{i}", "numerical", "ks", 0.05, p, p < 0.05))
                flags = [r.drifted for r in results]
                if correction != "none":
                    flags = [r.drifted for r in corrected(results, variant)[0]]
                if moved == 0:
                    any_false += any(flags)
                else:
                    caught += sum(flags[:moved])
                    wrong += sum(flags[moved:])
        out.append(
            {
                "correction": correction,
                "any_false_alarm": any_false / seeds,
                "power": caught / (seeds * shifted),
                "false_per_column": wrong / (seeds * (columns - shifted)),
            }
        )
    return out


def error_rates(seeds: int) -> list[dict[str, Any]]:
    """Rejection rates at alpha 0.05: the 20k sample vs a 200k full window, both against 5,000 reference rows."""
    from scipy.stats import chi2_contingency, chisquare, ks_2samp

    rng = np.random.default_rng(7)
    out = []
    for shift in (0.0, 0.03, 0.05, 0.08):
        hits = {"sample": 0, "full": 0}
        for _ in range(seeds):
            ref = rng.normal(0, 1, REFERENCE_ROWS)
            full = rng.normal(shift, 1, 200_000)
            hits["full"] += ks_2samp(ref, full).pvalue < 0.05
            hits["sample"] += ks_2samp(ref, full[:20_000]).pvalue < 0.05
        out.append({"test": "ks, mean shift (sd)", "shift": shift, **{k: v / seeds for k, v in hits.items()}})
    base = np.array([0.25, 0.25, 0.25, 0.25])
    for shift in (0.0, 0.01, 0.02, 0.03):
        hits = {"sample": 0, "full": 0, "gof_sample": 0}
        probs = base + np.array([shift, -shift, 0, 0])
        for _ in range(seeds):
            ref = rng.multinomial(REFERENCE_ROWS, base)
            full = rng.multinomial(200_000, probs)
            sample = rng.multinomial(20_000, probs)
            hits["full"] += chi2_contingency(np.vstack([ref, full]), correction=False).pvalue < 0.05
            hits["sample"] += chi2_contingency(np.vstack([ref, sample]), correction=False).pvalue < 0.05
            hits["gof_sample"] += chisquare(sample, ref / ref.sum() * sample.sum()).pvalue < 0.05
        out.append(
            {
                "test": "chi2_contingency, 4 categories (share moved)",
                "shift": shift,
                **{k: v / seeds for k, v in hits.items()},
            }
        )
    return out


# --------------------------------------------------------------------------------------------- the section
def _prepare(data_dir: Path, sizes: tuple[int, ...]) -> None:
    """The reference, each window as one Parquet file, and each window as inference-log parts of 5,000 rows."""
    project = bench_project()
    make_frame(project, "baseline", REFERENCE_ROWS, dt.date(2026, 1, 1), 1).to_parquet(data_dir / "reference.parquet")
    raw = {}
    for rows in sorted({10_000, *sizes}):
        window = make_frame(project, "covariate_drift", rows, dt.date(2026, 3, 1), 2)
        window.to_parquet(data_dir / f"window-{rows}.parquet")
        raw[str(rows)] = raw_megabytes(window)
        _write_log(data_dir / f"log-{rows}", project, window)
    (data_dir / "raw_mb.json").write_text(json.dumps(raw))


def _write_log(folder: Path, project: Any, window: pd.DataFrame) -> None:
    """The window as the service would have logged it: id, inputs, sensitive, outputs, version, time."""
    from projects.inference_log import (
        MODEL_VERSION,
        PREDICTION,
        PROBABILITY,
        SERVED_AT,
        part_name,
        partition_name,
        write_part,
    )
    from projects.storage import DataRoot

    store = DataRoot.from_url(f"file://{folder}").project(project.name)
    log = window.assign(**{project.schema.id.name: pd.array([f"R{i:08d}" for i in range(len(window))], dtype="string")})
    log[PREDICTION], log[PROBABILITY] = 0.0, 0.5
    log[MODEL_VERSION] = pd.array([VERSION] * len(log), dtype="string")
    log = log[
        [
            project.schema.id.name,
            *[c for c in window.columns if c != SERVED_AT],
            PREDICTION,
            PROBABILITY,
            MODEL_VERSION,
            SERVED_AT,
        ]
    ]
    for seq, lo in enumerate(range(0, len(log), PART_ROWS)):
        part = log.iloc[lo : lo + PART_ROWS]
        day = part[SERVED_AT].iloc[0].date()
        buffer = io.BytesIO()
        part.to_parquet(buffer, index=False)
        write_part(store, partition_name(day), part_name("bench", 1, seq), buffer.getvalue())


def _evidently_import_seconds() -> float:
    code = "import time; t=time.perf_counter(); import evidently.presets; print(time.perf_counter()-t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def run(quick: bool = False) -> str:
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        _prepare(data_dir, sizes)
        results = {
            (rows, method): _spawn(method, data_dir, rows, 1 if (rows >= 1_000_000 and method == "evidently") else 3)
            for rows in sizes
            for method in METHODS
        }
    rates = error_rates(40 if quick else 200)
    corrections = correction_rates(40 if quick else 200)
    return _markdown(sizes, results, rates, _evidently_import_seconds()) + correction_markdown(corrections)


def correction_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "",
        "Multiple testing (`drift.correction`), 12 columns per window, ks at 0.05 on a 20,000-row sample vs "
        f"{REFERENCE_ROWS} reference rows, 200 seeded windows each: 'any false alarm' = share of no-drift windows "
        "with at least one column flagged; 'power' = share of the 3 columns shifted by 0.05 sd that are flagged "
        "(9 unshifted alongside); 'false per column' = unshifted columns flagged in those windows.",
        "",
        "| correction | any false alarm | power (0.05 sd) | false per column |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['correction']} | {r['any_false_alarm']:.2f} | {r['power']:.2f} | {r['false_per_column']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _markdown(
    sizes: tuple[int, ...], results: dict[Any, dict[str, Any]], rates: list[dict[str, Any]], import_s: float
) -> str:
    lines = [
        "## Drift monitoring (monitoring/drift.py)",
        "",
        f"Window: churn's covariate-drift scenario, {len(SHIFTED)} of 20 monitored columns shifted "
        f"({', '.join(SHIFTED)}), 14 unshifted (8 extra uniform features, payment, region, 3 booleans, gender); "
        f"reference: {REFERENCE_ROWS} baseline rows. Methods pinned: ks / chi2_contingency at 0.05, dataset drift at "
        "a 0.3 share. Time: best of 3 (1 for Evidently at 1e6), Evidently already imported. Peak: kernel high-water "
        "mark above the resident size at the call, each measurement in a fresh process. Memory / window size: "
        "(window + peak) / window when the window is already in memory, peak / window when the monitor reads it "
        "from the log parts itself (it never holds the whole window).",
        "",
        "| rows | window MB | method | seconds | peak extra MB | memory / window size "
        "| shifted flagged | unshifted flagged |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for rows in sizes:
        for method in METHODS:
            r = results[(rows, method)]
            shifted = sum(r["flags"][c] for c in SHIFTED)
            others = sum(v for c, v in r["flags"].items() if c not in SHIFTED)
            peak = r["peak_extra_mb"]
            resident = 0.0 if method == "monitor_log" else r["raw_mb"]  # read from the log, the window never is
            ratio = "n/a" if peak is None else f"{(resident + peak) / r['raw_mb']:.2f}"
            peak_text = "n/a" if peak is None else f"{peak:.0f}"
            lines.append(
                f"| {rows:,} | {r['raw_mb']:.0f} | {LABELS[method]} | {r['seconds']:.2f} | {peak_text} | {ratio} "
                f"| {shifted}/{len(SHIFTED)} | {others}/{len(r['flags']) - len(SHIFTED)} |"
            )
    lines += [
        "",
        "| rows | speed-up: Evidently / monitor from the log | monitor from the log / numpy floor "
        "| same flags on shifted columns |",
        "|---:|---:|---:|---|",
    ]
    for rows in sizes:
        mon, _, evi, psi = (results[(rows, m)] for m in METHODS)
        same = all(mon["flags"][c] == evi["flags"][c] for c in SHIFTED)
        speedup, floor = evi["seconds"] / mon["seconds"], mon["seconds"] / psi["seconds"]
        lines.append(f"| {rows:,} | {speedup:.1f}x | {floor:.0f}x | {'yes' if same else 'NO'} |")
    lines += [
        "",
        f"Importing Evidently costs {import_s:.1f} s once per process (a CronJob pod pays it once per run).",
        "",
        "Error rates at alpha 0.05 (share of seeded trials rejecting; 'sample' = 20,000 rows, 'full' = 200,000 rows, "
        f"both against {REFERENCE_ROWS} reference rows; 'gof' = Evidently's chisquare on the sample):",
        "",
        "| test | shift | sample | full window | gof on sample |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rates:
        gof = f"{r['gof_sample']:.2f}" if "gof_sample" in r else ""
        lines.append(f"| {r['test']} | {r['shift']:g} | {r['sample']:.2f} | {r['full']:.2f} | {gof} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=4, metavar=("METHOD", "DATA_DIR", "ROWS", "REPEATS"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from projects.settings import disable_telemetry

    disable_telemetry()
    if args.child:
        method, data_dir, rows, repeats = args.child
        print(json.dumps(child(method, Path(data_dir), int(rows), int(repeats))))
        return 0
    print(run(quick=args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
