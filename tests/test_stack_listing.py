"""List semantics: paging, page tokens, sort_by and filter, through kfp.Client and raw HTTP."""

from __future__ import annotations

import json
import random

import kfp
import pytest
from stack_http import assert_kfp_error, call

from jupyter_dsp.stack.errors import ApiError
from jupyter_dsp.stack.filtering import Column, parse_filter
from jupyter_dsp.stack.listing import Listable, parse_list_request

COUNT = 230
NAMES = [f"p-{i:03d}" for i in range(COUNT)]


@pytest.fixture(scope="module")
def listed_stack(tmp_path_factory):
    from jupyter_dsp.stack import start_stack

    handle = start_stack(tmp_path_factory.mktemp("listing") / "data", in_process=True)
    order = NAMES[:]
    random.Random(7).shuffle(order)
    for name in order:
        index = int(name[2:])
        response = call(
            handle,
            "POST",
            "/pipelines",
            json={"name": name, "display_name": f"group-{index % 3}", "description": f"n{index}"},
        )
        assert response.status_code == 200, response.text
    handle.insertion_order = order
    yield handle
    handle.stop()


@pytest.fixture
def client(listed_stack):
    return kfp.Client(host=listed_stack.url, existing_token=listed_stack.token)


def page_through(fetch, **kwargs):
    names, token, pages = [], "", 0
    while True:
        response = fetch(page_token=token, **kwargs)
        names += [p.name for p in response.pipelines or []]
        pages += 1
        token = response.next_page_token
        if not token:
            return names, pages


def test_paging_through_more_than_200_with_kfp_client(client, listed_stack):
    names, pages = page_through(client.list_pipelines, page_size=200)
    assert pages == 2
    assert names == listed_stack.insertion_order  # default order: created_at, then insertion


def test_page_size_default_20_and_cap_200(client):
    assert len(client.list_pipelines(page_size=0).pipelines) == 20
    capped = client.list_pipelines(page_size=1000)
    assert len(capped.pipelines) == 200 and capped.total_size == COUNT


def test_sort_by_name_both_ways(client):
    ascending, _ = page_through(client.list_pipelines, page_size=50, sort_by="name")
    descending, _ = page_through(client.list_pipelines, page_size=50, sort_by="name desc")
    assert ascending == sorted(NAMES)
    assert descending == sorted(NAMES, reverse=True)


def test_sort_by_created_at_desc_is_newest_first(client, listed_stack):
    names, _ = page_through(client.list_pipelines, page_size=70, sort_by="created_at desc")
    assert names == list(reversed(listed_stack.insertion_order))


def flt(*predicates):
    return json.dumps({"predicates": list(predicates)})


def test_filter_by_display_name_with_kfp_client(client):
    expected = sorted(n for n in NAMES if int(n[2:]) % 3 == 1)
    found, _ = page_through(
        client.list_pipelines,
        page_size=30,
        sort_by="name",
        filter=flt({"key": "display_name", "operation": "EQUALS", "stringValue": "group-1"}),
    )
    assert found == expected
    assert client.get_pipeline_id("no-such-display-name") is None


@pytest.mark.parametrize(
    "predicate, expected",
    [
        ({"key": "name", "operation": "EQUALS", "string_value": "p-007"}, ["p-007"]),
        ({"key": "name", "operation": 1, "string_value": "p-007"}, ["p-007"]),
        (
            {"key": "name", "operation": "GREATER_THAN", "string_value": "p-226"},
            ["p-227", "p-228", "p-229"],
        ),
        (
            {"key": "name", "operation": "GREATER_THAN_EQUALS", "string_value": "p-228"},
            ["p-228", "p-229"],
        ),
        ({"key": "name", "operation": 6, "string_value": "p-002"}, ["p-000", "p-001"]),
        (
            {"key": "name", "operation": "LESS_THAN_EQUALS", "string_value": "p-001"},
            ["p-000", "p-001"],
        ),
        (
            {"key": "name", "operation": "IN", "string_values": {"values": ["p-003", "p-150"]}},
            ["p-003", "p-150"],
        ),
        (
            {"key": "description", "operation": "IS_SUBSTRING", "string_value": "n22"},
            [
                "p-022",
                "p-220",
                "p-221",
                "p-222",
                "p-223",
                "p-224",
                "p-225",
                "p-226",
                "p-227",
                "p-228",
                "p-229",
            ],
        ),
    ],
    ids=["equals", "equals-by-number", "gt", "gte", "lt-by-number", "lte", "in", "substring"],
)
def test_filter_operations(listed_stack, predicate, expected):
    response = call(
        listed_stack,
        "GET",
        "/pipelines",
        params={"filter": flt(predicate), "sort_by": "name", "page_size": 200},
    )
    assert response.status_code == 200, response.text
    assert [p["name"] for p in response.json().get("pipelines", [])] == expected
    assert response.json()["total_size"] == len(expected)


def test_not_equals_and_created_at_filters(listed_stack):
    ne = call(
        listed_stack,
        "GET",
        "/pipelines",
        params={
            "filter": flt(
                {"key": "display_name", "operation": "NOT_EQUALS", "string_value": "group-0"}
            )
        },
    ).json()
    assert ne["total_size"] == sum(1 for n in NAMES if int(n[2:]) % 3)
    future = call(
        listed_stack,
        "GET",
        "/pipelines",
        params={
            "filter": flt(
                {
                    "key": "created_at",
                    "operation": "GREATER_THAN",
                    "timestamp_value": "2999-01-01T00:00:00Z",
                }
            )
        },
    ).json()
    assert future == {}, "an empty list is {} (protojson omits empty fields)"
    past = call(
        listed_stack,
        "GET",
        "/pipelines",
        params={
            "filter": flt({"key": "created_at", "operation": "GREATER_THAN", "long_value": "0"})
        },
    ).json()
    assert past["total_size"] == COUNT


def test_the_page_token_keeps_its_criteria(listed_stack):
    first = call(
        listed_stack, "GET", "/pipelines", params={"sort_by": "name desc", "page_size": 5}
    ).json()
    second = call(
        listed_stack,
        "GET",
        "/pipelines",
        params={"page_token": first["next_page_token"], "page_size": 5},
    ).json()
    assert [p["name"] for p in second["pipelines"]] == sorted(NAMES, reverse=True)[5:10]
    mismatch = call(
        listed_stack,
        "GET",
        "/pipelines",
        params={"page_token": first["next_page_token"], "sort_by": "name"},
    )
    assert "page token does not match" in assert_kfp_error(mismatch, 400)["message"]


@pytest.mark.parametrize(
    "params, words",
    [
        ({"page_size": "-5"}, "greater than 0"),
        ({"page_size": "ten"}, "page_size"),
        ({"sort_by": "colour"}, "sorting field"),
        ({"sort_by": "name sideways"}, "sort by format"),
        ({"filter": "{not json"}, "filter"),
        ({"filter": flt({"key": "colour", "operation": "EQUALS", "string_value": "x"})}, "colour"),
        ({"filter": flt({"key": "name", "operation": "LIKE", "string_value": "x"})}, "operation"),
        ({"filter": flt({"key": "name", "operation": "EQUALS"})}, "value"),
        ({"filter": flt({"key": "name", "operation": "IN", "string_value": "x"})}, "IN"),
        ({"filter": json.dumps({"predicates": [], "extra": 1})}, "extra"),
        ({"page_token": "garbage!"}, "page_token"),
    ],
    ids=[
        "negative",
        "nan",
        "sort-field",
        "sort-format",
        "json",
        "key",
        "operation",
        "no-value",
        "in-scalar",
        "unknown-field",
        "token",
    ],
)
def test_malformed_list_parameters_are_400(listed_stack, params, words):
    body = assert_kfp_error(call(listed_stack, "GET", "/pipelines", params=params), 400)
    assert body["code"] == 3
    assert words.lower() in body["message"].lower()


def test_a_token_of_another_list_is_refused(listed_stack):
    token = call(listed_stack, "GET", "/pipelines", params={"page_size": 1}).json()
    response = call(
        listed_stack,
        "GET",
        "/experiments",
        params={"page_token": token["next_page_token"], "namespace": "default"},
    )
    assert_kfp_error(response, 400)


# -- the parsers on their own -------------------------------------------------------------

FIELDS = {"name": Column("name"), "created_at": Column("created_at", "int")}


def test_filter_parser_accepts_camel_case_and_numbers():
    predicates = parse_filter(
        flt(
            {"key": "name", "operation": 9, "stringValue": "x"},
            {
                "key": "created_at",
                "operation": "LESS_THAN",
                "timestampValue": "1970-01-01T00:01:00Z",
            },
            {"key": "created_at", "operation": "IN", "longValues": {"values": ["1", 2]}},
        ),
        FIELDS,
    )
    assert [p.to_sql() for p in predicates] == [
        ("instr(name, ?) > 0", ["x"]),
        ("created_at < ?", [60]),
        ("created_at IN (?, ?)", [1, 2]),
    ]


def test_filter_parser_takes_url_encoded_json_too():
    from urllib.parse import quote

    encoded = quote(flt({"key": "name", "operation": "EQUALS", "string_value": "a b"}))
    assert parse_filter(encoded, FIELDS)[0].value == "a b"


def test_page_tokens_are_opaque_and_checked():
    listable = Listable("things", FIELDS)
    query = parse_list_request(
        listable, page_token=None, page_size="2", sort_by="name", filter=None
    )
    token = query.next_token({"name": "b", "seq": 2})
    again = parse_list_request(
        listable, page_token=token, page_size=None, sort_by=None, filter=None
    )
    assert again.after == ("b", 2) and again.sort_key == "name" and again.page_size == 20
    with pytest.raises(ApiError):
        parse_list_request(
            Listable("other", FIELDS), page_token=token, page_size=None, sort_by=None, filter=None
        )
