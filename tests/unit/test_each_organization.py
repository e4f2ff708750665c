"""`postgres.each_organization`: the per-organization steps of the nightly, several at a time."""

from __future__ import annotations

import threading
import time

import pytest

from leadflow.postgres import each_organization

ORGS = [f"org-{n}" for n in range(6)]


def test_results_come_in_the_organizations_order_whatever_finishes_first():
    def work(org: str) -> str:
        time.sleep(0.05 if org == "org-0" else 0.0)  # the first finishes last
        return org.upper()

    assert each_organization(ORGS, work, workers=3) == [org.upper() for org in ORGS]


def test_two_workers_run_two_organizations_at_once():
    both = threading.Barrier(2, timeout=5)

    def work(org: str) -> str:
        both.wait()  # passes only when a second organization runs at the same time
        return org

    assert each_organization(ORGS[:4], work, workers=2) == ORGS[:4]


def test_one_worker_runs_them_one_by_one_in_the_callers_thread():
    threads = set()

    def work(org: str) -> str:
        threads.add(threading.current_thread())
        return org

    assert each_organization(ORGS, work, workers=1) == ORGS
    assert threads == {threading.current_thread()}


def test_a_failure_is_raised_and_organizations_not_started_are_not_run():
    started = []
    failed = threading.Event()

    def work(org: str) -> str:
        started.append(org)
        if org == "org-0":
            failed.set()
            raise ValueError("org-0 failed")
        # the others hold their worker until org-0 failed and well after: the caller cancels
        # what is not started meanwhile (each worker holds at most one more organization)
        assert failed.wait(timeout=30)
        time.sleep(0.5)
        return org

    with pytest.raises(ValueError, match="org-0 failed"):
        each_organization(ORGS, work, workers=2)
    assert {"org-0", "org-1"} <= set(started)
    assert set(started) <= {"org-0", "org-1", "org-2"}, started  # the other 3 never started
