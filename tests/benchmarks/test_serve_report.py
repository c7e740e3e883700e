"""The bench-serve table: ratios to the floor, target verdicts, the previous run beside the new one.

Run: .venv/bin/pytest tests/benchmarks/test_serve_report.py
"""

from __future__ import annotations

import copy

from benchmarks import serve_report


def load(p50: float, p99: float, req_per_s: float, errors: int = 0) -> dict:
    cpu_us = 2e6 / req_per_s  # two busy cores
    return {"p50_ms": p50, "p99_ms": p99, "req_per_s": req_per_s, "errors": errors, "server_cpu_us_per_request": cpu_us}


def a_run(one_p50: float = 1.0, many: dict | None = None, batch: dict | None = None) -> dict:
    return {
        "created_at": "2026-11-24T00:00:00+00:00",
        "git_sha": "abc1234",
        "cores": 2,
        "load_average": {"before": [0.5, 0.5, 0.5], "after": [1.0, 1.0, 1.0]},
        "seconds_per_load": 10.0,
        "load_generator": "wrk -t1",
        "flask_server": "Flask development server",
        "floor": {
            "model_1_ms_default": 0.8,
            "model_1_ms_1thread": 0.5,
            "model_64_ms_default": 6.4,
            "model_64_ms_1thread": 8.0,
            "json_stdlib_ms": 0.2,
            "json_orjson_ms": 0.02,
            "parse_instances_ms": 0.04,
            "parse64_orjson_numpy_ms": 6.0,
            "parse64_instances_ms": 1.5,
        },
        "flask": {"one_client": load(50.0, 80.0, 18.0), "clients_32": load(1200.0, 2000.0, 25.0)},
        "vertex_local": {
            "one_client": load(one_p50, 3.0, 900.0),
            "clients_32": many or load(10.0, 20.0, 3000.0),
            "batch64_8": batch or load(60.0, 90.0, 125.0),  # 8,000 images/s
        },
        "kserve": {
            "one_client": load(1.5, 4.0, 600.0),
            "clients_32": load(30.0, 60.0, 1000.0),
            "batch64_8": load(100.0, 200.0, 80.0),
        },
    }


def row(text: str, label: str) -> list[str]:
    (line,) = [line for line in text.splitlines() if line.startswith(label)]
    return line[len(label) :].split()


def test_latencies_are_divided_by_the_fastest_one_image_call_and_rates_by_its_ceilings() -> None:
    run = a_run()
    assert serve_report.floor_call_ms(run) == 0.5
    assert serve_report.floor_images_per_s(run) == 10_000  # 64 images in 6.4 ms
    text = serve_report.render(run, None)
    assert row(text, "naive Flask, 1 client: p50")[:3] == ["50.0", "ms", "x100.0"]
    assert row(text, "vertex-local, 1 client: req/s")[:2] == ["900/s", "0.450"]  # of 1 / 0.5 ms
    assert row(text, "vertex-local, 32 clients: req/s")[:2] == ["3,000/s", "0.300"]  # of 10,000 images/s
    assert row(text, "vertex-local, 32 clients: server CPU/request")[:2] == ["667", "µs"]


def test_64_image_bodies_are_counted_in_images_per_second_against_the_floor() -> None:
    text = serve_report.render(a_run(), None)
    assert row(text, "vertex-local, 64-image bodies x8: images/s")[:2] == ["8,000/s", "0.800"]  # of 10,000
    assert row(text, "naive Flask, 64-image bodies x8: images/s") == ["-", "-"]  # Flask only gets the 1-digit loads


def test_the_peer_table_divides_vertex_locals_req_per_s_by_kserves() -> None:
    text = serve_report.render(a_run(), None)
    assert row(text, "1 connection") == ["x1.50", "-"]  # 900 / 600
    assert row(text, "32 connections") == ["x3.00", "-"]
    assert row(text, "64-image bodies, 8 conns") == ["x1.56", "-"]  # 125 / 80
    without_peer = {**a_run(), "kserve": None}
    assert row(serve_report.render(without_peer, None), "1 connection") == ["-", "-"]
    assert not any("KServe" in line for line in serve_report.targets(without_peer))


def test_the_forwarding_hop_is_the_forwarded_figures_minus_the_serving_images_own() -> None:
    alone = {"one_client": load(1.0, 3.0, 800.0), "clients_32": load(10.0, 20.0, 2000.0),
             "batch64_8": load(60.0, 90.0, 120.0)}  # fmt: skip
    forwarded = {"one_client": load(1.5, 4.0, 600.0), "clients_32": load(16.0, 30.0, 1600.0),
                 "batch64_8": load(66.0, 99.0, 110.0)}  # fmt: skip
    text = serve_report.render({**a_run(), "container": alone, "forwarded": forwarded}, None)
    assert row(text, "hop, 1 connection: p50") == ["0.500", "ms", "x1.50"]
    assert row(text, "hop, 32 connections: req/s") == ["-400/s", "x0.80"]
    assert row(text, "hop, 32 connections: CPU/request, both processes") == ["250", "µs"]  # 1,250 - 1,000
    assert row(text, "serving image's server, 1 client: p50")[0] == "1.000"
    assert "forwarding hop" not in serve_report.render(a_run(), None)


def test_each_target_is_met_or_missed_on_its_own_figure() -> None:
    assert all(line.strip().startswith("met") for line in serve_report.targets(a_run()))
    slow = a_run(one_p50=2.6, many=load(30.0, 51.0, 1999.0, errors=1), batch=load(60.0, 90.0, 109.0))
    missed = serve_report.targets(slow)  # 109 x 64 = 6,976 images/s, under 0.7 of 10,000
    assert [line.split()[0] for line in missed] == ["MISSED"] * 5 + ["met", "met", "MISSED"]  # x1.50, x2.00, x1.36


def test_the_previous_runs_figures_stand_beside_and_missing_ones_show_a_dash() -> None:
    previous = copy.deepcopy(a_run(one_p50=2.0))
    del previous["floor"]["json_orjson_ms"]
    text = serve_report.render(a_run(), previous)
    assert row(text, "vertex-local, 1 client: p50") == ["1.000", "ms", "x2.0", "2.000", "ms"]
    assert row(text, "floor: parse 1-image body, orjson (the server's)")[-1] == "-"
    assert "previous: 2026-11-24T00:00:00+00:00, git abc1234" in text
