"""The README's performance chart, from the JSON the benchmarks wrote in ``bench/results/``.

Four panels, each from one run's ratios: server CPU per request of the protected routes relative to the
unprotected one (per identity mode, target line at 0.95; diamonds: the same ratio in instructions executed, from
bench/auth_instructions.py), the time auth adds per request in-process (CPU) against the p50 the emulator's front
end adds (a proxy in front, as a sidecar would be), cold start to the first 200 against a bare FastAPI app (wall
and CPU, target lines at 1.10 for the hello app and 1.20 for the example service), and each export format's rows/s
against DuckDB writing the same rows to a local file, labelled with the server's peak RSS.
A panel whose JSON is missing is left out. Writes ``docs/performance.png``. Usage: ``python bench/chart.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "docs" / "performance.png"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def throughput(ax: Any, auth: dict[str, Any], instructions: dict[str, Any] | None) -> None:
    """Bars: each route's server CPU (or req/s) ratio to the unprotected route; diamonds, where counted: the same
    ratio in instructions the server executed (bench/auth_instructions.py, callgrind: independent of the load)."""
    names = [n for n in next(iter(auth.values())) if n != "unprotected"]
    width = 0.8 / len(auth)
    for i, (mode, table) in enumerate(auth.items()):
        xs = [j + i * width for j in range(len(names))]
        # The server's CPU per request, where measured: req/s on a shared machine swing with the other processes.
        key = "cpu_ratio" if "cpu_ratio" in table[names[0]] else "ratio"
        ax.barh(xs, [table[n][key] for n in names], height=width, label=f"identity={mode}")
        counted = (instructions or {}).get(mode, {})
        points = [(counted[n]["ratio"], x) for n, x in zip(names, xs, strict=True) if n in counted]
        if points:
            ax.plot(*zip(*points, strict=True), "kd", markersize=4, label="instructions" if i == 0 else None)
    ax.set_yticks([j + width / 2 for j in range(len(names))], [n.replace(" (", "\n(") for n in names], fontsize=7)
    ax.axvline(0.95, color="black", linestyle="--", linewidth=1)
    ax.axvline(1.0, color="grey", linewidth=0.5)
    ax.invert_yaxis()
    measured = "server CPU/request" if "cpu_ratio" in next(iter(auth.values()))[names[0]] else "req/s"
    ax.set_xlabel(f"relative to the unprotected route, {measured} (target 0.95)", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")


def added_latency(ax: Any, inproc: dict[str, Any] | None, front: dict[str, Any] | None) -> None:
    """Per request, no queueing: in-process auth's CPU time against the front end's added p50 (sequential)."""
    labels, values, colors = [], [], []
    if inproc is not None:
        us = inproc["cpu_us_per_request"]
        base = us["verify: unprotected"]
        for name, label in (
            ("verify: API key + identity (Depends)", "Depends\n(in-process)"),
            ("verify: API key + identity (route-level, CloudgateRoute)", "route-level\n(in-process)"),
        ):
            labels.append(label)
            values.append(max(us[name] - base, 0.1) / 1000)
            colors.append("tab:blue")
    if front is not None:
        labels.append("proxy in front\n(front end)")
        values.append(front["added_p50_ms"])
        colors.append("tab:red")
    ax.bar(labels, values, color=colors)
    ax.set_yscale("log")
    ax.set_ylabel("added per request (ms, log)", fontsize=8)
    ax.tick_params(labelsize=7)


def cold_start(ax: Any, cold: dict[str, Any]) -> None:
    """Each case's start to first 200 relative to the bare app: wall time and the CPU it used (targets 1.10, 1.20)."""
    names = list(cold["cases"])
    short = [n.replace("example service, ", "example: ").replace(", ", "\n", 1) for n in names]
    ys = range(len(names))
    ax.barh([y - 0.2 for y in ys], [cold["cases"][n]["ratio"] for n in names], height=0.4, label="wall")
    ax.barh([y + 0.2 for y in ys], [cold["cases"][n]["cpu_ratio"] for n in names], height=0.4, label="CPU")
    ax.set_yticks(list(ys), short, fontsize=7)
    ax.axvline(1.10, color="black", linestyle=":", linewidth=1)
    ax.axvline(1.20, color="black", linestyle="--", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel("start to first 200, relative to bare FastAPI (targets 1.10 hello, 1.20 example)", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")


def exports(ax: Any, export: dict[str, Any]) -> None:
    """Rows/s of each export format relative to DuckDB writing the same rows to a local file; peak RSS on top."""
    formats = export["formats"]
    names = list(formats)
    bars = ax.bar(names, [formats[n]["ratio"] for n in names])
    for bar, name in zip(bars, names, strict=True):
        peak = formats[name]["peak_rss_bytes"] / 2**20
        ax.annotate(f"{peak:.0f} MiB", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                    va="bottom", fontsize=7)  # fmt: skip
    ax.axhline(1.0, color="grey", linewidth=0.5)
    ax.set_ylabel("rows/s vs DuckDB to a local file", fontsize=8)
    ax.set_title(f"{export['rows'] / 1e6:.0f}M rows; labels: server peak RSS", fontsize=8)
    ax.tick_params(labelsize=7)


def main() -> None:
    auth, front, cold = load("auth_overhead"), load("frontend_latency"), load("cold_start")
    instructions = load("auth_instructions")
    inproc, export = load("auth_inprocess"), load("export_throughput")
    if cold is not None and "cases" not in cold:
        cold = None  # written by an older bench/cold_start.py
    panels = [p for p in (auth, inproc or front, cold, export) if p is not None]
    if not panels:
        raise SystemExit("no results yet: run make bench")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    column = iter(axes[0])
    if auth is not None:
        throughput(next(column), auth, instructions)
    if inproc is not None or front is not None:
        added_latency(next(column), inproc, front)
    if cold is not None:
        cold_start(next(column), cold)
    if export is not None:
        exports(next(column), export)
    fig.suptitle("cloudgate: ratios to a baseline measured in the same run (loaded 2-core machine)", fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
