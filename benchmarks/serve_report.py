"""The table `python -m benchmarks.bench_serve` prints: every figure, its ratio to the floor, the previous run's.

Ratios: a latency is divided by the floor's 1-image call (the faster of TF's default threads and one
thread); one client's req/s by that call's rate (1 / latency); 32 clients' req/s and the 64-image
bodies' images/s by the floor's batch-of-64 rate in images/s, the most the model itself could answer
on this machine. The peer table divides vertex-local's req/s by KServe's, load by load.
"""

from __future__ import annotations

from collections.abc import Callable

Getter = Callable[[dict], float]

TARGETS = {"one_p50_ms": 2.5, "many_req_per_s": 2000.0, "many_p99_ms": 50.0, "many_errors": 0}
BATCH_IMAGES = 64  # digits per body in the batch64_8 load
BATCH_FLOOR_SHARE = 0.7  # 64-image bodies at 8 connections: images/s against the floor's 64-image batches
PEER_RATIO = 1.5  # vertex-local's req/s over KServe's, at every load
PEER_LOADS = {"one_client": "1 connection", "clients_32": "32 connections", "batch64_8": "64-image bodies, 8 conns"}


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


def figure(server: str, load: str, key: str) -> Getter:
    return lambda run: run[server][load][key]


def load_rows(server: str, title: str) -> list[tuple[str, Getter, str, Callable | None]]:
    single_rate = rate_ratio(lambda run: 1000 / floor_call_ms(run))
    images = rate_ratio(floor_images_per_s)
    one, many, batch = (f"{title}, 1 client", "one_client"), (f"{title}, 32 clients", "clients_32"), \
        (f"{title}, 64-image bodies x8", "batch64_8")  # fmt: skip
    rows = []
    for (label, load), ratios in ((one, (latency_ratio, single_rate)), (many, (latency_ratio, images)),
                                  (batch, (None, None))):  # fmt: skip
        rows += [
            (f"{label}: p50", figure(server, load, "p50_ms"), "ms", ratios[0]),
            (f"{label}: p99", figure(server, load, "p99_ms"), "ms", ratios[0]),
            (f"{label}: req/s", figure(server, load, "req_per_s"), "/s", ratios[1]),
        ]
        if load != "one_client":
            rows.append((f"{label}: errors", figure(server, load, "errors"), "", None))
    rows.append((f"{batch[0]}: images/s", lambda run: batch_images_per_s(run, server), "/s", images))
    for label, load in (one, many, batch):
        rows.append((f"{label}: server CPU/request", figure(server, load, "server_cpu_us_per_request"), "us", None))
    return rows


def batch_images_per_s(run: dict, server: str) -> float:
    return run[server]["batch64_8"]["req_per_s"] * BATCH_IMAGES


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
        floor_row("server's parse_instances, 1-image body", "parse_instances_ms"),
        floor_row("parse 64-image body, orjson + np.asarray", "parse64_orjson_numpy_ms"),
        floor_row("server's parse_instances, 64-image body", "parse64_instances_ms"),
        *load_rows("flask", "naive Flask"),
        *load_rows("vertex_local", "vertex-local"),
        *load_rows("kserve", "KServe"),
        *load_rows("container", "serving image's server"),
        *load_rows("forwarded", "vertex-local -> serving image"),
    ]


def hop_lines(run: dict) -> list[str]:
    """What the forwarding hop adds: vertex-local forwarding to the serving image's server, minus that server."""
    if not run.get("forwarded") or not run.get("container"):
        return []
    lines = [f"{'forwarding hop (forwarded - serving image alone)':54} {'added':>12} {'ratio':>9}"]
    for load, title in PEER_LOADS.items():
        hop, alone = run["forwarded"][load], run["container"][load]
        lines.append(f"{'hop, ' + title + ': p50':54} {number(hop['p50_ms'] - alone['p50_ms'], 'ms'):>12} "
                     f"{'x' + format(hop['p50_ms'] / alone['p50_ms'], '.2f'):>9}")  # fmt: skip
        lines.append(f"{'hop, ' + title + ': req/s':54} {number(hop['req_per_s'] - alone['req_per_s'], '/s'):>12} "
                     f"{'x' + format(hop['req_per_s'] / alone['req_per_s'], '.2f'):>9}")  # fmt: skip
        added_cpu = hop["server_cpu_us_per_request"] - alone["server_cpu_us_per_request"]
        lines.append(f"{'hop, ' + title + ': CPU/request, both processes':54} {number(added_cpu, 'us'):>12}")
    return lines


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


def peer_ratio(run: dict, load: str) -> float | None:
    """vertex-local's req/s over KServe's at one load; None when KServe was not measured."""
    if not run.get("kserve"):
        return None
    return run["vertex_local"][load]["req_per_s"] / run["kserve"][load]["req_per_s"]


def peer_lines(run: dict, previous: dict | None) -> list[str]:
    lines = [f"{'vertex-local req/s / KServe req/s':54} {'this run':>12} {'':>9} {'previous':>12}"]
    for load, title in PEER_LOADS.items():
        now, before = peer_ratio(run, load), lookup(lambda r, load=load: peer_ratio(r, load), previous)
        lines.append(f"{title:54} {ratio_text(now):>12} {'':>9} {ratio_text(before):>12}")
    return lines


def ratio_text(value: float | None) -> str:
    return "-" if value is None else f"x{value:.2f}"


def targets(run: dict) -> list[str]:
    one, many = run["vertex_local"]["one_client"], run["vertex_local"]["clients_32"]
    share = batch_images_per_s(run, "vertex_local") / floor_images_per_s(run)
    checks = [
        ("1 client p50 <= 2.5 ms", one["p50_ms"] <= TARGETS["one_p50_ms"], f"{one['p50_ms']:.2f} ms"),
        ("32 clients >= 2,000 req/s", many["req_per_s"] >= TARGETS["many_req_per_s"], f"{many['req_per_s']:,.0f}"),
        ("32 clients p99 <= 50 ms", many["p99_ms"] <= TARGETS["many_p99_ms"], f"{many['p99_ms']:.1f} ms"),
        ("32 clients 0 errors", many["errors"] == TARGETS["many_errors"], f"{many['errors']}"),
        ("64-image bodies >= 0.70 of floor", share >= BATCH_FLOOR_SHARE, f"{share:.3f} of the floor's images/s"),
    ]
    for load, title in PEER_LOADS.items():
        ratio = peer_ratio(run, load)
        if ratio is not None:
            checks.append((f">= 1.5x KServe, {title}", ratio >= PEER_RATIO, ratio_text(ratio)))
    return [f"  {'met   ' if ok else 'MISSED'} {name:40} measured {measured}" for name, ok, measured in checks]


def render(run: dict, previous: dict | None) -> str:
    load = run["load_average"]
    lines = [
        "",
        f"bench-serve on {run['cores']} cores, load average {load['before']} before, {load['after']} after; "
        f"{run['seconds_per_load']:g} s per load, {run['load_generator']}",
        f"naive Flask: {run['flask_server']}, model.predict per request; vertex-local: python -m vertex_local serve",
        f"KServe: {run.get('kserve_server')}",
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
    lines += ["", *peer_lines(run, previous)]
    hop = hop_lines(run)
    lines += ["", *hop] if hop else []
    lines += ["", "targets (vertex-local, 2 cores, load generator included):", *targets(run)]
    return "\n".join(lines)
