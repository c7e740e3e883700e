"""Test tiers, found rather than hand-applied: `live` (a vertex-local process or a trained model) and `slow` (trains).

mark(item) reads what a test reaches: the fixtures in its closure (and any it asks for by name through
getfixturevalue), and the code of the test and of those fixtures, followed through the helpers in tests/
they call. Reaching something in STARTS_SERVER, or spelling out `python -m vertex_local`, makes a test
live; reaching something in TRAINS, or spelling out `python -m trainer.task`, makes it slow. A fixture that
trains hands the test a trained model, so its users are live as well.

The guards make a miss loud: a test not marked for it that starts a vertex-local or trainer process
(refuse_process) or has the session server run a training job (new_training_jobs) fails.
"""

from __future__ import annotations

import dis
import inspect
import itertools
import types
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

LIVE, SLOW = "live", "slow"
# By qualified name. Code outside tests/ is not followed (it would reach everything), so what of it starts
# a server or has the trainer run is named here: submit_training and the demo submit training jobs.
STARTS_SERVER = {"tests.conftest.start_vertex_local", "vertex_local.daemon.start", "scripts.demo.start_server",
                 "scripts.demo.main"}  # fmt: skip
TRAINS = {"tests.trainer.conftest.run_trainer", "scripts.submit_training.main", "scripts.demo.main"}
MODULE_TIERS = {"vertex_local": LIVE, "trainer.task": SLOW}  # what `python -m <module>` needs
TRAINER_ENTRYPOINT = "trainer.task"


class TierError(RuntimeError):
    """A test did something its tier markers do not allow; the detection in this module missed it."""


def mark(item: pytest.Function) -> set[str]:
    """The tiers of one collected test."""
    tiers = reached(item.function)
    names = list(item.fixturenames)
    if "getfixturevalue" in code_names(item.function):
        names += asked_by_name(item)
    seen: set[str] = set()
    while names:
        name = names.pop()
        if name in seen:
            continue
        seen.add(name)
        for fixturedef in used_definitions(item, name):
            found = reached(fixturedef.func)
            tiers |= found | ({LIVE} if SLOW in found else set())  # a fixture that trains hands a model over
            names += fixturedef.argnames
    return tiers


def used_definitions(item: pytest.Function, name: str) -> list[Any]:
    """The FixtureDefs a test gets for a name: the most specific one, and those it overrides and asks for.

    A direct parametrization shadows a fixture of the same name with pytest's own stand-in, which reaches
    nothing. (Private pytest API: the only way from a fixture name to the function behind it.)
    """
    found = item._fixtureinfo.name2fixturedefs.get(name) or item.session._fixturemanager.getfixturedefs(name, item)
    used = []
    for fixturedef in reversed(found or ()):
        used.append(fixturedef)
        if name not in fixturedef.argnames:  # it does not extend the definition it overrides
            break
    return used


def asked_by_name(item: pytest.Function) -> list[str]:
    """Fixture names a parametrized test passes to request.getfixturevalue (its string parameters)."""
    callspec = getattr(item, "callspec", None)
    return [value for value in callspec.params.values() if isinstance(value, str)] if callspec else []


def reached(function: Any) -> set[str]:
    """The tiers a function needs: what it and the test helpers it calls start, run or spell out."""
    tiers: set[str] = set()
    pending, seen = [unwrap(function)], set()
    while pending:
        current = pending.pop()
        if id(current) in seen or not inspect.isfunction(current):
            continue
        seen.add(id(current))
        for code in codes(current.__code__):
            tiers |= spelled_out(code)
        for target in referenced(current):
            module = getattr(target, "__module__", None) or ""  # some objects have __module__ = None
            name = f"{module}.{getattr(target, '__qualname__', '')}"
            tiers |= ({LIVE} if name in STARTS_SERVER else set()) | ({SLOW} if name in TRAINS else set())
            if module.startswith("tests.") and module != __name__:  # this module reads commands, runs none
                pending += vars(target).values() if inspect.isclass(target) else [unwrap(target)]
    return tiers


def unwrap(function: Any) -> Any:
    """The plain function under a pytest fixture definition or a decorator."""
    wrapped = getattr(function, "_get_wrapped_function", None)
    return inspect.unwrap(wrapped() if wrapped else function)


def codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """A code object and those nested in it (lambdas, comprehensions, inner functions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from codes(const)


def code_names(function: Any) -> set[str]:
    return {name for code in codes(unwrap(function).__code__) for name in code.co_names}


def spelled_out(code: types.CodeType) -> set[str]:
    """Tiers of `python -m vertex_local ...` or `python -m trainer.task` written out as string constants."""
    strings = {const for const in code.co_consts if isinstance(const, str)}
    tiers = {MODULE_TIERS[TRAINER_ENTRYPOINT]} if TRAINER_ENTRYPOINT in strings else set()
    return tiers | ({MODULE_TIERS["vertex_local"]} if {"-m", "vertex_local"} <= strings else set())


def referenced(function: types.FunctionType) -> Iterator[Any]:
    """Globals the function's code loads, and attributes it reads of the modules among them."""
    names = code_names(function)
    loaded = {
        instruction.argval
        for code in codes(function.__code__)
        for instruction in dis.get_instructions(code)
        if instruction.opname == "LOAD_GLOBAL"
    }
    for name in loaded & set(function.__globals__):
        target = function.__globals__[name]
        yield target
        if inspect.ismodule(target):
            # The module's own dict: getattr would run module __getattr__ hooks (numpy warns in them).
            yield from (vars(target)[attribute] for attribute in names & set(vars(target)))


def process_tier(argv: Sequence[Any] | str | bytes) -> tuple[str, str] | None:
    """(tier, module) a command line needs when it is `... -m vertex_local ...` or `... -m trainer.task ...`."""
    if isinstance(argv, str | bytes):
        return None  # a shell string: the project never starts its processes that way
    words = [str(word) for word in argv]
    for flag, module in itertools.pairwise(words):
        if flag == "-m" and module in MODULE_TIERS:
            return MODULE_TIERS[module], module
    return None


def refuse_process(item: pytest.Item | None, argv: Sequence[Any] | str | bytes) -> None:
    """Raise TierError when the running test starts a vertex-local or trainer process it is not marked for."""
    needed = process_tier(argv)
    if item is not None and needed is not None and item.get_closest_marker(needed[0]) is None:
        raise TierError(
            f"{item.nodeid} runs `python -m {needed[1]}` but is not marked {needed[0]}: "
            "tests/tiers.py did not see it coming; teach it what this test reaches"
        )


def new_training_jobs(before: int, after: int, item: pytest.Item) -> None:
    """Raise TierError when the session server ran training jobs for a test not marked slow."""
    if after > before and item.get_closest_marker(SLOW) is None:
        raise TierError(
            f"{item.nodeid} had vertex-local run {after - before} training job(s) but is not marked slow: "
            "tests/tiers.py did not see it coming; teach it what this test reaches"
        )


def training_jobs(jobs: list[dict[str, Any]]) -> int:
    """How many of a customJobs listing run the trainer."""
    return sum(
        TRAINER_ENTRYPOINT in pool.get("containerSpec", {}).get("command", [])
        for job in jobs
        for pool in job.get("jobSpec", {}).get("workerPoolSpecs", [])
    )
