"""experiments: items sent to live variants (instances whose agents answer through the fake
LLM), scored, ranked; results paged and filtered; cancel, delete and the typed errors — through
the SDK against the real server."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from conftest import assert_exact, unique
from fake_llm import Text
from operator_sdk import (
    AsyncOperator,
    AsyncPaginator,
    BadRequestError,
    ContainsScorer,
    DatasetItem,
    ExactScorer,
    Experiment,
    ExperimentResult,
    InlineDataset,
    Instance,
    LeaderboardEntry,
    NotFoundError,
    NumericScorer,
    Operator,
    Page,
)

CAPITALS = [
    DatasetItem(input="Capital of France?", expected="paris"),
    DatasetItem(input="Capital of Germany?", expected="Berlin"),
    DatasetItem(input="Capital of Italy?", expected="Rome"),
]


@pytest.fixture
def beta(client: Operator, cleanup) -> Instance:
    """A second live variant, deleted after the test."""
    inst = client.instances.create(unique("beta"))
    cleanup.append(inst.id)
    return client.instances.wait_for_status(inst.id, "active", timeout=60)


def test_exact_experiment_over_two_variants_ranks_pages_cancels_and_deletes(
    client: Operator, active_instance: Instance, beta: Instance, fake_llm
):
    alpha = active_instance
    # GIVEN two live variants whose agents answer in turn (one lane, so the pairs run in order:
    # item 0 on alpha, item 0 on beta, item 1 on alpha ...): alpha right every time, beta once
    assert fake_llm.pending() == 0, "an earlier test left replies in the fake LLM's script"
    fake_llm.push(*(Text(t) for t in ["Paris", "Lyon", " berlin ", "Berlin", "Rome", "Milan"]))
    calls_before = fake_llm.request_count()
    # WHEN an experiment with an inline dataset and the exact scorer is started (beta by name)
    name = unique("capitals")
    exp = client.experiments.create(
        name, [alpha.id, beta.name], InlineDataset(items=CAPITALS), ExactScorer(), concurrency=1
    )
    # THEN it is typed and queued, the variants resolved to ids
    assert isinstance(exp, Experiment) and exp.id.startswith("exp_") and exp.name == name
    assert exp.status == "queued" and exp.item_count == 3 and exp.concurrency == 1
    assert exp.instance_ids == [alpha.id, beta.id]
    assert isinstance(exp.scorer, ExactScorer) and exp.scorer.type == "exact"
    assert isinstance(exp.created_at, dt.datetime) and exp.created_at.tzinfo is not None
    assert exp.progress is None and exp.leaderboard is None
    assert_exact(exp)
    # WHEN it is waited for THEN it succeeded with every pair done
    done = client.experiments.wait(exp.id, timeout=120)
    assert done.status == "succeeded", done.error
    assert done.is_terminal and done.finished_at is not None and done.error is None
    assert done.progress is not None and (done.progress.done, done.progress.total) == (6, 6)
    assert_exact(done)
    # AND the leaderboard ranks alpha (3 of 3) above beta (1 of 3)
    board = done.leaderboard
    assert board is not None and [e.instance_id for e in board] == [alpha.id, beta.id]
    first, second = board
    assert isinstance(first, LeaderboardEntry) and first.instance_name == alpha.name
    assert first.score == 1.0 and first.scored == 3 and first.errors == 0
    assert first.mean_latency_ms is not None and first.mean_latency_ms >= 0
    assert second.instance_name == beta.name and second.scored == 3 and second.errors == 0
    assert second.score == pytest.approx(1 / 3)
    assert second.ci95 is not None and second.ci95[0] <= second.score <= second.ci95[1]
    # AND each (variant, item) reached its agent exactly once
    assert fake_llm.request_count() - calls_before == 6
    # AND the results come one per (variant, item), by item then variant, across pages
    page = client.experiments.results_page(exp.id, limit=4)
    assert isinstance(page, Page) and len(page.items) == 4 and page.next_cursor
    rest = client.experiments.results_page(exp.id, limit=4, cursor=page.next_cursor)
    assert len(rest.items) == 2 and rest.next_cursor is None
    rows = list(client.experiments.results(exp.id, limit=4))
    assert [(r.item_index, r.instance_id) for r in rows] == [
        (i, v) for i in range(3) for v in (alpha.id, beta.id)
    ]
    assert [r.instance_id for r in page.items + rest.items] == [r.instance_id for r in rows]
    assert all(isinstance(r, ExperimentResult) for r in rows)
    assert_exact(rows)
    germany_beta = rows[3]
    assert germany_beta.input == "Capital of Germany?" and germany_beta.expected == "Berlin"
    assert germany_beta.output == "Berlin" and germany_beta.score == 1.0 and germany_beta.error is None
    assert germany_beta.latency_ms is not None
    france_beta = rows[1]
    assert france_beta.output == "Lyon" and france_beta.score == 0.0
    # AND the instance filter (an id or a name) keeps one variant's rows
    only_beta = list(client.experiments.results(exp.id, instance_id=beta.name))
    assert [(r.instance_id, r.output) for r in only_beta] == [(beta.id, "Lyon"), (beta.id, "Berlin"), (beta.id, "Milan")]
    assert len(client.experiments.results_page(exp.id, instance_id=alpha.id, limit=2).items) == 2
    # AND it is listed, newest first
    assert client.experiments.list_page(limit=1).items[0].id == exp.id
    assert exp.id in {e.id for e in client.experiments.list(limit=1)}
    # WHEN the finished experiment is cancelled THEN nothing changes
    after_cancel = client.experiments.cancel(exp.id)
    assert after_cancel.status == "succeeded"
    again = client.experiments.get(exp.id)
    assert again.status == "succeeded" and again.progress == done.progress
    assert [(e.instance_id, e.score) for e in again.leaderboard or []] == [(e.instance_id, e.score) for e in board]
    # WHEN it is deleted THEN reading it or its results is a 404
    client.experiments.delete(exp.id)
    with pytest.raises(NotFoundError):
        client.experiments.get(exp.id)
    with pytest.raises(NotFoundError):
        client.experiments.results_page(exp.id)
    assert exp.id not in {e.id for e in client.experiments.list()}


def test_bad_scorer_and_unknown_instance_are_typed_errors(client: Operator, active_instance: Instance):
    items = [{"input": "Capital of France?", "expected": "Paris"}]
    # a scorer type that does not exist, and one without its own field: 400 naming the field
    for scorer, field in (({"type": "regex"}, "scorer.type"), ({"type": "numeric"}, "scorer.metric")):
        with pytest.raises(BadRequestError) as e:
            client.experiments.create(unique("bad"), [active_instance.id], items, scorer)
        assert e.value.status == 400 and e.value.code == "invalid_request"
        assert e.value.details and field in e.value.details, e.value.details
    # an empty dataset: 400 naming the dataset
    with pytest.raises(BadRequestError) as e:
        client.experiments.create(unique("bad"), [active_instance.id], [], ExactScorer())
    assert e.value.details and "dataset" in e.value.details
    # a variant that is no instance of the account: 404
    with pytest.raises(NotFoundError) as e:
        client.experiments.create(unique("bad"), [active_instance.id, "no-such-variant"], items, ContainsScorer())
    assert e.value.status == 404 and e.value.code == "not_found" and "no-such-variant" in e.value.message
    with pytest.raises(NotFoundError):
        client.experiments.get("exp_doesnotexist")
    # AND none of them was created
    assert not [e for e in client.experiments.list() if e.name.startswith("bad-")]


def test_async_numeric_experiment_with_plain_dicts(server, fake_llm, active_instance: Instance):
    # GIVEN the variant answers 12 (expected 10) and then 20 (expected 20)
    assert fake_llm.pending() == 0, "an earlier test left replies in the fake LLM's script"
    fake_llm.push(Text("About 12 µg/m³ tomorrow."), Text("20"))

    async def go():
        async with AsyncOperator(api_key=server.api_key, base_url=server.url) as c:
            # WHEN the dataset and scorer are the API's JSON
            exp = await c.experiments.create(
                unique("aqi"),
                [active_instance.name],
                {"items": [{"input": "AQI on Monday?", "expected": 10}, {"input": "AQI on Tuesday?", "expected": "20"}]},
                {"type": "numeric", "metric": "mae"},
                concurrency=1,
            )
            assert isinstance(exp.scorer, NumericScorer) and exp.scorer.metric == "mae"
            done = await c.experiments.wait(exp.id, timeout=120)
            # THEN the score is the mean absolute error, (2 + 0) / 2
            assert done.status == "succeeded", done.error
            assert done.leaderboard is not None and len(done.leaderboard) == 1
            assert done.leaderboard[0].score == pytest.approx(1.0)
            pager = c.experiments.results(exp.id, limit=1)
            assert isinstance(pager, AsyncPaginator)
            rows = [r async for r in pager]
            assert [(r.item_index, r.score, r.expected) for r in rows] == [(0, 2.0, 10), (1, 0.0, "20")]
            assert (await c.experiments.cancel(exp.id)).status == "succeeded"
            await c.experiments.delete(exp.id)
            with pytest.raises(NotFoundError):
                await c.experiments.get(exp.id)

    asyncio.run(go())
