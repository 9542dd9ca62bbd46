"""Run the selected checks concurrently and return their results in SPEC order."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType

from llmenv.checks import CHECKS, load_check
from llmenv.context import Context
from llmenv.findings import CheckResult, Finding, skipped


def _run_one(check_id: str, module: ModuleType, ctx: Context, needed: dict[str, Future[CheckResult]]) -> CheckResult:
    """Run one check; a crash becomes an `internal-error` finding instead of taking the doctor down."""
    title = CHECKS[check_id]
    started = time.perf_counter()
    try:
        if getattr(module, "NEEDS", ()):
            findings = module.run(ctx, {name: fut.result() for name, fut in needed.items()})
        else:
            findings = module.run(ctx)
        result = tuple(findings)
        is_skip = len(result) == 1 and result[0].code == "skipped"
    except Exception as exc:  # the report must survive any one check's bug
        tb = "".join(traceback.format_exception(exc))
        first = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        result = (Finding("internal-error", "fail", f"the {check_id} check crashed: {first}", detail=tb),)
        is_skip = False
    elapsed = int((time.perf_counter() - started) * 1000)
    return CheckResult(check_id, title, result, elapsed, skipped=is_skip)


def run_checks(
    ctx: Context,
    selected: Iterable[str],
    loader: Callable[[str], ModuleType] = load_check,
) -> list[CheckResult]:
    """Start every selected check at once (and any check they need); return one result per check id."""
    wanted = set(selected)
    # A needed check runs even when not selected, but only selected ones are reported.
    to_run: dict[str, ModuleType] = {}

    def add(check_id: str) -> None:
        if check_id in to_run:
            return
        to_run[check_id] = loader(check_id)
        for need in getattr(to_run[check_id], "NEEDS", ()):
            add(need)

    for check_id in CHECKS:
        if check_id in wanted:
            add(check_id)
    futures: dict[str, Future[CheckResult]] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(to_run)), thread_name_prefix="llmenv-check") as pool:
        # Submit in dependency order so a check's needs are already futures when it is submitted.
        pending = [c for c in CHECKS if c in to_run]
        while pending:
            for check_id in list(pending):
                needs = getattr(to_run[check_id], "NEEDS", ())
                if all(n in futures for n in needs):
                    futures[check_id] = pool.submit(
                        _run_one, check_id, to_run[check_id], ctx, {n: futures[n] for n in needs}
                    )
                    pending.remove(check_id)
        done = {check_id: fut.result() for check_id, fut in futures.items()}
    return [
        done[c] if c in wanted else CheckResult(c, CHECKS[c], (skipped("not selected (--only/--skip)"),), skipped=True)
        for c in CHECKS
    ]
