"""The PostgreSQL catalog's wait budget (issue 17 finding 5): one budget for every call of a command, not one each."""

from __future__ import annotations

import pytest

from jackfruit.adapters.catalog import _wait_budget
from jackfruit.adapters.catalog._wait_budget import WaitBudget


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(_wait_budget.time, "monotonic", lambda: now[0])
    return now


def test_a_healthy_catalog_gives_every_call_the_whole_budget(clock):
    budget = WaitBudget(5.0)
    for _ in range(3):
        token, _, wait = budget.begin()
        clock[0] += 2.0  # a slow query, after the connection came
        budget.connected(token)
        budget.succeeded()
        assert wait == 5.0


def test_calls_after_a_failure_share_what_is_left_and_a_success_restores_it(clock):
    budget = WaitBudget(5.0)
    token, started, wait = budget.begin()
    clock[0] += 5.0  # waited the whole budget for a connection
    budget.connected(token)
    budget.failed(started)
    token, started, wait = budget.begin()
    assert wait == 0.0  # the next call does not wait again
    budget.connected(token)
    budget.failed(started)
    clock[0] += 1.0
    token, _, wait = budget.begin()
    assert wait == 0.0
    budget.connected(token)
    budget.succeeded()  # the database is back (a ready connection answered)
    assert budget.begin()[2] == 5.0


def test_a_call_waiting_already_shortens_the_wait_of_the_next(clock):
    """The heartbeat waits for a connection; the command's next call only waits for what that one has left."""
    budget = WaitBudget(5.0)
    budget.begin()  # still waiting
    clock[0] += 3.5
    assert budget.begin()[2] == pytest.approx(1.5)
    clock[0] += 10.0
    assert budget.begin()[2] == 0.0
