"""The table `python -m benchmarks.bench_serve` prints: every figure, its ratio to the floor, the previous run's.

Ratios: a latency is divided by the floor's 1-image call (the faster of TF's default threads and one
thread); one client's req/s by that call's rate (1 / latency); 32 clients' req/s by the floor's
batch-of-64 rate in images/s, the most the model itself could answer on this machine.
"""

from __future__ import annotations

from collections.abc import Callable

Getter = Callable[[dict], float]

TARGETS = {"one_p50_ms": 2.5, "many_req_per_s": 2000.0, "many_p99_ms": 50.0, "many_errors": 0}


def floor_call_ms(run: dict) -> float:
    floor = run["floor"]
    return min(floor["model_1_ms_default"], floor["model_1_ms_1thread"])


def floor_images_per_s(run: dict) -> float:
    floor = run["floor"]
    return 64_000 / min(floor["model_64_ms_default"], floor["model_64_ms_1thread"])


def latency_ratio(run: dict, value: float) -> str:
    return f"x{value / floor_call_ms(run):,.1f}"


def rate_ratio(base: Getter) -> Callable[[dict, float], str]:
    return lambda run, value: f"{value / base(run):.3f}"


def load_rows(server: str, title: str) -> list[tuple[str, Getter, str, Callable | None]]:
    one, many = (lambda run: run[server]["one_client"]), (lambda run: run[server]["clients_32"])
    single_rate = rate_ratio(lambda run: 1000 / floor_call_ms(run))
    return [
        (f"{title}, 1 client: p50", lambda run: one(run)["p50_ms"], "ms", latency_ratio),
        (f"{title}, 1 client: p99", lambda run: one(run)["p99_ms"], "ms", latency_ratio),
        (f"{title}, 1 client: req/s", lambda run: one(run)["req_per_s"], "/s", single_rate),
        (f"{title}, 32 clients: p50", lambda run: many(run)["p50_ms"], "ms", latency_ratio),
        (f"{title}, 32 clients: p99", lambda run: many(run)["p99_ms"], "ms", latency_ratio),
        (f"{title}, 32 clients: req/s", lambda run: many(run)["req_per_s"], "/s", rate_ratio(floor_images_per_s)),
        (f"{title}, 32 clients: errors", lambda run: many(run)["errors"], "", None),
        (f"{title}, 1 client: server CPU/request", lambda run: one(run)["server_cpu_us_per_request"], "us", None),
        (f"{title}, 32 clients: server CPU/request", lambda run: many(run)["server_cpu_us_per_request"], "us", None),
    ]


def floor_row(label: str, key: str) -> tuple[str, Getter, str, Callable | None]:
    return (f"floor: {label}", lambda run: run["floor"][key], "ms", latency_ratio)


def rows() -> list[tuple[str, Getter, str, Callable | None]]:
    return [
        floor_row("serving_default 1 image, TF default threads", "model_1_ms_default"),
        floor_row("serving_default 1 image, 1 thread per op", "model_1_ms_1thread"),
        floor_row("serving_default 64 images, TF default threads", "model_64_ms_default"),
        floor_row("serving_default 64 images, 1 thread per op", "model_64_ms_1thread"),
        ("floor: 64-image batches, best, in images/s", floor_images_per_s, "/s", rate_ratio(floor_images_per_s)),
        floor_row("parse 1-image body, stdlib json", "json_stdlib_ms"),
        floor_row("parse 1-image body, orjson (the server's)", "json_orjson_ms"),
        floor_row("server's parse_instances (orjson + checks)", "parse_instances_ms"),
        *load_rows("flask", "naive Flask"),
        *load_rows("vertex_local", "vertex-local"),
    ]


def number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "us":
        return f"{value:,.0f} µs"
    if unit == "ms":
        return f"{value:,.3f} ms" if value < 10 else f"{value:,.1f} ms"
    return f"{value:,.0f}{unit}"


def lookup(getter: Getter, run: dict | None) -> float | None:
    try:
        return getter(run) if run is not None else None
    except (KeyError, TypeError, ZeroDivisionError):
        return None  # the previous run predates this figure


def targets(run: dict) -> list[str]:
    one, many = run["vertex_local"]["one_client"], run["vertex_local"]["clients_32"]
    checks = [
        ("1 client p50 <= 2.5 ms", one["p50_ms"] <= TARGETS["one_p50_ms"], f"{one['p50_ms']:.2f} ms"),
        ("32 clients >= 2,000 req/s", many["req_per_s"] >= TARGETS["many_req_per_s"], f"{many['req_per_s']:,.0f}"),
        ("32 clients p99 <= 50 ms", many["p99_ms"] <= TARGETS["many_p99_ms"], f"{many['p99_ms']:.1f} ms"),
        ("32 clients 0 errors", many["errors"] == TARGETS["many_errors"], f"{many['errors']}"),
    ]
    return [f"  {'met   ' if ok else 'MISSED'} {name:28} measured {measured}" for name, ok, measured in checks]


def render(run: dict, previous: dict | None) -> str:
    load = run["load_average"]
    lines = [
        "",
        f"bench-serve on {run['cores']} cores, load average {load['before']} before, {load['after']} after; "
        f"{run['seconds_per_load']:g} s per load, {run['load_generator']}",
        f"naive Flask: {run['flask_server']}, model.predict per request; vertex-local: python -m vertex_local serve",
        f"vertex-local [serving]: {run.get('serving')}",
        f"{'figure':54} {'this run':>12} {'/ floor':>9} {'previous':>12}",
    ]
    for label, getter, unit, ratio in rows():
        value, before = lookup(getter, run), lookup(getter, previous)
        shown_ratio = ratio(run, value) if ratio and value is not None else ""
        lines.append(f"{label:54} {number(value, unit):>12} {shown_ratio:>9} {number(before, unit):>12}")
    if previous is not None:
        lines.append(f"(previous: {previous.get('created_at')}, git {previous.get('git_sha')}, "
                     f"load average {previous.get('load_average', {}).get('before')})")  # fmt: skip
    lines += ["", "targets (vertex-local, 2 cores, load generator included):", *targets(run)]
    return "\n".join(lines)
