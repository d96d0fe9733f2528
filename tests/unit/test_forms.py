"""Request bodies as fields: JSON, PHP bracket-notation forms, multipart text fields.

The form strings below are what PHP 8.2's ``http_build_query()`` prints for the
seed's examples, and the expected values what its ``parse_str()`` gives.
"""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from casemesh.settings import Settings
from casemesh.web.app import create_process_app
from casemesh.web.errors import ApiError
from casemesh.web.forms import (
    check_shape,
    parse_json_fields,
    parse_urlencoded,
    php_name_path,
    read_fields,
)
from tests.fixtures.web import serving

# http_build_query($aVars) of the seed's "New Case" PHP example.
SEED_NEW_CASE_QUERY = (
    "pro_uid=325089587550b34ab5471f8086074839&tas_uid=491406639550b34b27f0b34088369199"
    "&variables%5B0%5D%5Bclient%5D=Acme+Inc.&variables%5B0%5D%5Bamount%5D=23456.99"
    "&variables%5B0%5D%5Baddress%5D=245+Stars+Av.%0AHollywood+CA+12345"
    "&variables%5B0%5D%5BdateDue%5D=2015-12-31"
    "&variables%5B0%5D%5BdateDue_label%5D=12%2F31%2F2015"
    "&variables%5B0%5D%5BdeliveryTime%5D=2015-11-25+17%3A55%3A38"
    "&variables%5B0%5D%5BserviceType%5D=accounting"
    "&variables%5B0%5D%5BserviceType_label%5D=Accounting+Review"
    "&variables%5B0%5D%5BhasContract%5D%5B0%5D=1&variables%5B0%5D%5BhasContract_label%5D=yes"
    "&variables%5B0%5D%5BhowContact%5D%5B0%5D=fax&variables%5B0%5D%5BhowContact%5D%5B1%5D=email"
    "&variables%5B0%5D%5BhowContact%5D%5B2%5D=telephone"
    "&variables%5B0%5D%5BhowContact_label%5D=%5B%22Fax%22%2C%22Send+Email%22%2C%22Telephone%22%5D"
    "&variables%5B0%5D%5BcontactsGrid%5D%5B1%5D%5BfullName%5D=Jane+Doe"
    "&variables%5B0%5D%5BcontactsGrid%5D%5B1%5D%5BcanCall%5D=1"
    "&variables%5B0%5D%5BcontactsGrid%5D%5B1%5D%5BcanCall_label%5D=Yes"
    "&variables%5B0%5D%5BcontactsGrid%5D%5B2%5D%5BfullName%5D=Bill+Hill"
    "&variables%5B0%5D%5BcontactsGrid%5D%5B2%5D%5BcanCall%5D=0"
    "&variables%5B0%5D%5BcontactsGrid%5D%5B2%5D%5BcanCall_label%5D=No"
    "&variables%5B0%5D%5BcontactsGrid%5D%5B3%5D%5BfullName%5D=Sally+Slim"
    "&variables%5B0%5D%5BcontactsGrid%5D%5B3%5D%5BcanCall%5D=1"
    "&variables%5B0%5D%5BcontactsGrid%5D%5B3%5D%5BcanCall_label%5D=Yes"
)
SEED_NEW_CASE_FIELDS = {
    "pro_uid": "325089587550b34ab5471f8086074839",
    "tas_uid": "491406639550b34b27f0b34088369199",
    "variables": [
        {
            "client": "Acme Inc.",
            "amount": "23456.99",
            "address": "245 Stars Av.\nHollywood CA 12345",
            "dateDue": "2015-12-31",
            "dateDue_label": "12/31/2015",
            "deliveryTime": "2015-11-25 17:55:38",
            "serviceType": "accounting",
            "serviceType_label": "Accounting Review",
            "hasContract": ["1"],
            "hasContract_label": "yes",
            "howContact": ["fax", "email", "telephone"],
            "howContact_label": '["Fax","Send Email","Telephone"]',
            "contactsGrid": {
                "1": {"fullName": "Jane Doe", "canCall": "1", "canCall_label": "Yes"},
                "2": {"fullName": "Bill Hill", "canCall": "0", "canCall_label": "No"},
                "3": {"fullName": "Sally Slim", "canCall": "1", "canCall_label": "Yes"},
            },
        }
    ],
}

# http_build_query() of the seed's "Set Variables" values (a PHP array): false -> 0, true -> 1.
SEED_SET_VARIABLES_QUERY = (
    "clientName=Kelly+Cline&quantity=56789&amount=12249.99&makeContact%5B0%5D=1&payNow=0"
    "&serviceDue=2015-12-31&subcontractors%5B1%5D%5Bname%5D=Smith+%26+Wright"
    "&subcontractors%5B1%5D%5BhasContract%5D=0"
    "&subcontractors%5B2%5D%5Bname%5D=A%2B+Lawn+Services&subcontractors%5B2%5D%5BhasContract%5D=1"
)


# -- PHP parse_str ------------------------------------------------------------------


def test_the_seed_new_case_example_reads_like_the_json_one():
    assert parse_urlencoded(SEED_NEW_CASE_QUERY) == SEED_NEW_CASE_FIELDS


def test_the_seed_set_variables_example():
    assert parse_urlencoded(SEED_SET_VARIABLES_QUERY) == {
        "clientName": "Kelly Cline",
        "quantity": "56789",
        "amount": "12249.99",
        "makeContact": ["1"],
        "payNow": "0",
        "serviceDue": "2015-12-31",
        "subcontractors": {
            "1": {"name": "Smith & Wright", "hasContract": "0"},
            "2": {"name": "A+ Lawn Services", "hasContract": "1"},
        },
    }


def test_the_brief_example_with_plain_brackets():
    body = "variables[0][client]=Acme&variables[0][contactsGrid][1][fullName]=Jane"
    assert parse_urlencoded(body) == {
        "variables": [{"client": "Acme", "contactsGrid": {"1": {"fullName": "Jane"}}}]
    }


def test_the_seed_case_without_variables():
    query = "pro_uid=325089587550b34ab5471f8086074839&tas_uid=491406639550b34b27f0b34088369199"
    assert parse_urlencoded(query) == {
        "pro_uid": "325089587550b34ab5471f8086074839",
        "tas_uid": "491406639550b34b27f0b34088369199",
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # [] appends; 0..n-1 in order is a list, anything else an object of strings
        ("a[]=x&a[]=y", {"a": ["x", "y"]}),
        ("a[0]=x&a[1]=y", {"a": ["x", "y"]}),
        ("a[1]=x&a[0]=y", {"a": {"1": "x", "0": "y"}}),
        ("a[1]=x&a[2]=y", {"a": {"1": "x", "2": "y"}}),
        ("c[5]=a&c[]=b", {"c": {"5": "a", "6": "b"}}),
        ("n[-5]=b&n[-9]=c&n[]=d", {"n": {"-5": "b", "-9": "c", "-4": "d"}}),
        ("a[]=1&a[]=2&a[0]=3", {"a": ["3", "2"]}),
        ("a[ ]=1&a[%09]=2", {"a": ["1", "2"]}),
        # only canonical integers are integer keys
        ("z[01]=a&z[1]=b", {"z": {"01": "a", "1": "b"}}),
        ("k[-0]=a&k[%201]=b", {"k": {"-0": "a", " 1": "b"}}),
        # last value wins, whatever its shape
        ("a=1&a=2", {"a": "2"}),
        ("a=1&a[x]=2", {"a": {"x": "2"}}),
        ("b[x]=1&b=2", {"b": "2"}),
        ("a[b]=1&a[b][]=2", {"a": {"b": ["2"]}}),
        # + is a space; escapes; no "=" means ""; empty pairs and names skipped
        ("q=a+b%2Bc", {"q": "a b+c"}),
        ("flag&&x=1&=5&[y]=6", {"flag": "", "x": "1"}),
        ("a%5Bb%5D=1", {"a": {"b": "1"}}),
        # top-level names: spaces and dots become _, leading spaces dropped, NUL cuts
        ("d.e+f=1&++sp=2", {"d_e_f": "1", "sp": "2"}),
        ("a.b[c.d]=1", {"a_b": {"c.d": "1"}}),
        ("a%00b=1", {"a": "1"}),
        # an unclosed first [ is part of the name; text after ] is ignored
        ("g[h.i=4", {"g_h_i": "4"}),
        ("g[h[i=4", {"g_h_i": "4"}),
        ("i[j]k=3", {"i": {"j": "3"}}),
        ("l[m[n]]=4", {"l": {"m[n": "4"}}),
        ("a[b][c=1", {"a": {"b": "1"}}),
    ],
)
def test_php_parse_str_rules(query, expected):
    assert parse_urlencoded(query) == expected


def test_name_paths():
    assert php_name_path("variables[0][grid][]") == ["variables", "0", "grid", None]
    assert php_name_path("[x]") is None
    assert php_name_path("plain") == ["plain"]


def test_form_limits():
    deep = "a" + "[x]" * 15 + "=1"
    assert parse_urlencoded(deep)  # 16 levels
    with pytest.raises(ApiError) as err:
        parse_urlencoded("a" + "[x]" * 16 + "=1")
    assert err.value.status == 400 and "deeper than 16" in err.value.message
    many = "&".join(f"f{i}=1" for i in range(10_001))
    with pytest.raises(ApiError) as err:
        parse_urlencoded(many)
    assert "more than 10000 fields" in err.value.message
    assert len(parse_urlencoded(many, max_fields=20_000)) == 10_001


def test_form_text_must_be_utf8():
    assert parse_urlencoded("name=Jos%C3%A9") == {"name": "José"}
    with pytest.raises(ApiError) as err:
        parse_urlencoded("name=Jos%E9")
    assert err.value.status == 400
    assert err.value.message == "the value of field 'name' is not valid UTF-8"
    with pytest.raises(ApiError):
        parse_urlencoded(b"n%FFme=1")


# -- JSON ---------------------------------------------------------------------------


def test_json_objects_and_arrays():
    assert parse_json_fields(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
    assert parse_json_fields(b'\xef\xbb\xbf{"bom": true}') == {"bom": True}
    assert parse_json_fields(b"[1, 2]", allow_array=True) == [1, 2]
    with pytest.raises(ApiError) as err:
        parse_json_fields(b"[1, 2]")
    assert err.value.message == "the JSON body must be an object, not an array"
    with pytest.raises(ApiError) as err:
        parse_json_fields(b'"text"', allow_array=True)
    assert err.value.message == "the JSON body must be an object or an array, not a string"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": 1,}', "the body is not valid JSON: Expecting property name"),
        (b'{"a": NaN}', "the body is not valid JSON: NaN is not a JSON number"),
        (b'{"a": "\xff"}', "the JSON body is not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than"),
        (b'{"a":' * 17 + b"1" + b"}" * 17, "nested deeper than 16 levels"),
        (b'{"a": [' + b"1," * 10_000 + b"1]}", "more than 10000 fields"),
    ],
)
def test_bad_json_is_a_400_saying_why(body, message):
    with pytest.raises(ApiError) as err:
        parse_json_fields(body, allow_array=True)
    assert err.value.status == 400
    assert message in err.value.message


def test_shape_limits_count_shared_values_per_reference():
    shared = list(range(100))
    bomb = {"a": [shared] * 200}
    with pytest.raises(ApiError):
        check_shape(bomb, max_fields=10_000)
    check_shape({"a": [shared] * 10}, max_fields=10_000)


# -- over HTTP ------------------------------------------------------------------------


@pytest.fixture
async def echo_url():
    app = create_process_app("forms-test", Settings(mode="embedded"))

    async def echo(request: web.Request) -> web.Response:
        allow = request.query.get("array") == "1"
        return web.json_response(await read_fields(request, max_size=4096, allow_array=allow))

    app.router.add_post("/api/1.0/{workspace}/echo", echo)
    async with serving(app) as url:
        yield f"{url}/api/1.0/workflow/echo"


async def test_read_fields_json_and_form_give_the_same_fields(echo_url, http):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with http.post(echo_url, data=SEED_SET_VARIABLES_QUERY, headers=form) as r:
        assert r.status == 200
        as_form = await r.json()
    async with http.post(echo_url, json=as_form) as r:
        assert await r.json() == as_form
    async with http.post(echo_url, data=b'{"a": 1}', headers={"Content-Type": ""}) as r:
        assert await r.json() == {"a": 1}  # no Content-Type: sniffed as JSON
    async with http.post(echo_url, data=b"a[]=1") as r:
        assert await r.json() == {"a": ["1"]}  # no Content-Type: form encoding
    async with http.post(echo_url, data=b"", headers={"Content-Type": "application/json"}) as r:
        assert await r.json() == {}
    async with http.post(f"{echo_url}?array=1", json=[{"x": 1}]) as r:
        assert await r.json() == [{"x": 1}]


async def test_read_fields_multipart_text_fields(echo_url, http):
    form = aiohttp.FormData()
    form.add_field("variables[0][client]", "Acme")
    form.add_field("variables[0][howContact][]", "fax")
    form.add_field("variables[0][howContact][]", "email")
    form.add_field("note", "José")
    async with http.post(echo_url, data=form) as r:
        assert r.status == 200
        assert await r.json() == {
            "variables": [{"client": "Acme", "howContact": ["fax", "email"]}],
            "note": "José",
        }


async def test_read_fields_refuses_files_and_oversized_or_unknown_bodies(echo_url, http):
    form = aiohttp.FormData()
    form.add_field("title", "x")
    form.add_field("file", b"%PDF-1.4", filename="contract.pdf")
    async with http.post(echo_url, data=form) as r:
        assert r.status == 400
        message = (await r.json())["error"]["message"]
        assert message.startswith("Bad Request: file uploads are not accepted here")
        assert "'file'" in message
    async with http.post(echo_url, data=b"a=" + b"x" * 5000, headers=_FORM) as r:
        assert r.status == 413
        assert "more than 4096 bytes" in (await r.json())["error"]["message"]
    async with http.post(echo_url, data=b"<a/>", headers={"Content-Type": "text/xml"}) as r:
        assert r.status == 415
    async with http.post(
        echo_url, data=b"{oops", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
        assert (await r.json())["error"]["message"].startswith(
            "Bad Request: the body is not valid JSON"
        )
    big = aiohttp.FormData()
    big.add_field("a", "x" * 5000)
    async with http.post(echo_url, data=big) as r:
        assert r.status == 413
    broken = b"--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--b--\r\n"
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    async with http.post(echo_url, data=broken, headers=headers) as r:
        assert r.status == 400
        assert "has no field name" in (await r.json())["error"]["message"]


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
