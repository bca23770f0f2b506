"""The shape check a worker applies to each task message before Celery unpacks it."""

from __future__ import annotations

import pytest

from strikeflow.workers.app import app
from strikeflow.workers.messages import CheckedTask, body_problem


@pytest.mark.parametrize(
    "body",
    [[[], {}, {}], [["rec-1"], {}, None], [[], {"ticker": "MSFT"}, {"callbacks": None}]],
)
def test_a_protocol_2_body_passes(body):
    assert body_problem(body) is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"args": []}, "the body must be [args, kwargs, embed]"),
        ([[], {}], "the body must be [args, kwargs, embed]"),
        ([[], {}, {}, {}], "the body must be [args, kwargs, embed]"),
        ("text", "the body must be [args, kwargs, embed]"),
        (None, "the body must be [args, kwargs, embed]"),
        (["rec-1", {}, {}], "args must be a list"),
        ([[], [], {}], "kwargs must be an object"),
        ([[], {}, "embed"], "embed must be an object"),
    ],
)
def test_any_other_body_is_named(body, problem):
    assert body_problem(body) == problem


def test_every_strikeflow_task_uses_the_checked_strategy():
    app.loader.import_default_modules()
    ours = [t for name, t in app.tasks.items() if name.startswith("strikeflow.")]
    assert ours
    # whatever base a task declares (the app's CheckedTask, tasks.budgeted's BudgetedTask):
    # a base without the check would hand its messages to Celery unchecked
    assert {t.Strategy for t in ours} == {"strikeflow.workers.messages:checked_strategy"}
    assert {t.resultrepr_maxsize for t in ours} == {CheckedTask.resultrepr_maxsize}
