"""postman/StockBrokerageSystem.postman_collection.json: the API's Postman collection.

(a) Static: a Postman Collection v2.1 document whose every request is routed by an api/
    function for its method (directly or through a vercel.json rewrite), whose example
    bodies and query strings pass the validation the API runs (lib/order_requests.py), and
    which holds every operation of docs/openapi.yaml - and nothing else - with every request
    body example documented there. So the collection cannot rot unnoticed.
(b) Live: the collection runs top to bottom against a real API (tests/api_harness.py) the
    way Postman's runner runs it - variables substituted, collection auth inherited,
    pre-request and test scripts executed by Node with a small `pm` sandbox - and every
    request gets a non-error status and passes its own test scripts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack.dispatcher import Dispatcher, load_rewrites
from lib.config import load_settings
from lib.errors import ErrorCode
from lib.order_requests import (
    ApiError,
    ListQuery,
    ModifyOrder,
    PlaceOrder,
    parse_book_query,
    parse_list_query,
    parse_modify,
    parse_order_id,
    parse_place,
)
from tests.api_harness import Api
from tests.routing import function_for, routed

ROOT = Path(__file__).resolve().parents[2]
COLLECTION_PATH = ROOT / "postman" / "StockBrokerageSystem.postman_collection.json"
OPENAPI_PATH = ROOT / "docs" / "openapi.yaml"
SCHEMA_V2_1 = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
DEFAULT_BASE_URL = "http://127.0.0.1:3000"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Stands in for an order-id variable in the static checks (the id docs/openapi.yaml uses).
SAMPLE_ORDER_ID = "o01a22ca0a2ba0d8ad80be2e2a227"
# Postman's dynamic variables the collection's scripts may use (the sandbox below has them).
DYNAMIC_VARIABLES = frozenset({"$guid", "$randomUUID", "$timestamp"})

_VARIABLE = re.compile(r"\{\{([^{}]+)\}\}")
_SET_IN_SCRIPT = re.compile(r"pm\.collectionVariables\.set\(\s*\"([^\"]+)\"")
_TEMPLATE_SEGMENT = re.compile(r"^(?:\{\{[^{}]+\}\}|\{[^{}]+\})$")


@dataclass(frozen=True)
class Request:
    """One request of the collection, with what it inherits from its folder and the
    collection (auth, scripts), in the order Postman's runner sends it."""

    name: str
    method: str
    raw_url: str
    path: str  # "/api/orders/{{order_id}}": the URL path, variables unresolved
    query: tuple[dict[str, Any], ...]
    headers: tuple[dict[str, Any], ...]
    body: str | None
    auth: dict[str, Any]
    prerequest: tuple[str, ...]  # script sources, collection's first
    tests: tuple[str, ...]

    @property
    def template(self) -> str:
        """The path with each variable segment as `{}`, to compare with OpenAPI paths."""
        return path_template(self.path)

    @property
    def label(self) -> str:
        return f"{self.name!r} ({self.method} {self.path})"

    def enabled_query(self) -> dict[str, str]:
        return {p["key"]: p["value"] for p in self.query if not p.get("disabled")}

    def header(self, name: str) -> str | None:
        for header in self.headers:
            if header["key"].lower() == name.lower() and not header.get("disabled"):
                return str(header["value"])
        return None


def path_template(path: str) -> str:
    return "/".join("{}" if _TEMPLATE_SEGMENT.match(s) else s for s in path.split("/"))


def _scripts(node: dict[str, Any], listen: str) -> list[str]:
    return [
        "\n".join(event["script"]["exec"])
        for event in node.get("event", [])
        if event.get("listen") == listen and not event.get("disabled")
    ]


def _walk(
    node: dict[str, Any], auth: dict[str, Any], pre: list[str], tests: list[str]
) -> Iterator[Request]:
    for item in node["item"]:
        item_auth = item.get("auth", auth)
        item_pre = pre + _scripts(item, "prerequest")
        item_tests = tests + _scripts(item, "test")
        if "item" in item:  # a folder
            yield from _walk(item, item_auth, item_pre, item_tests)
            continue
        request = item["request"]
        url = request["url"]
        yield Request(
            name=item["name"],
            method=request["method"],
            raw_url=url["raw"],
            path="/" + "/".join(url["path"]),
            query=tuple(url.get("query", [])),
            headers=tuple(request.get("header", [])),
            body=request["body"]["raw"] if "body" in request else None,
            auth=request.get("auth", item_auth),
            prerequest=tuple(item_pre),
            tests=tuple(item_tests),
        )


def load_collection() -> dict[str, Any]:
    collection: dict[str, Any] = json.loads(COLLECTION_PATH.read_text())
    return collection


def requests_of(collection: dict[str, Any]) -> list[Request]:
    auth = collection.get("auth", {"type": "noauth"})
    return list(
        _walk(collection, auth, _scripts(collection, "prerequest"), _scripts(collection, "test"))
    )


COLLECTION = load_collection()
REQUESTS = requests_of(COLLECTION)
VARIABLES = {v["key"]: v.get("value", "") for v in COLLECTION.get("variable", [])}


def _sample(text: str) -> str:
    """`text` with every variable replaced by a value valid where it stands."""
    return _VARIABLE.sub(lambda m: "" if m.group(1) == "base_url" else SAMPLE_ORDER_ID, text)


def _json(text: str) -> Any:
    """A body as the API decodes it: numbers with a fraction as exact decimals."""
    return json.loads(text, parse_float=Decimal)


# --- (a) the document -------------------------------------------------------------------


def test_the_collection_is_postman_v2_1() -> None:
    info = COLLECTION["info"]
    assert info["schema"] == SCHEMA_V2_1
    assert info["name"] and info["_postman_id"]
    assert REQUESTS
    names = [r.name for r in REQUESTS]
    assert len(names) == len(set(names)), "two requests share a name"
    for request in REQUESTS:
        assert request.method in ("GET", "POST", "PUT", "DELETE"), request.label
        # `raw` (what Postman shows) says the same as host/path/query (what it sends).
        query = "&".join(f"{k}={v}" for k, v in request.enabled_query().items())
        raw = "{{base_url}}" + request.path + (f"?{query}" if query else "")
        assert request.raw_url == raw, f"{request.label}: url.raw is not {raw}"
    # Every request with a body says it is JSON (the API answers 415 otherwise).
    for request in REQUESTS:
        if request.body is not None:
            assert request.header("Content-Type") == "application/json", request.label


def test_base_url_api_key_and_collection_auth() -> None:
    assert VARIABLES["base_url"] == DEFAULT_BASE_URL
    assert "api_key" in VARIABLES
    assert COLLECTION["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{api_key}}", "type": "string"}],
    }
    # What docs/openapi.yaml secures inherits the key; the public rest sends none.
    document = _openapi()
    secured = {
        (method, path): bool(operation.get("security", document.get("security")))
        for method, path, operation in _operations(document)
    }
    for request in REQUESTS:
        if secured[(request.method, request.template)]:
            assert request.auth == COLLECTION["auth"], f"{request.label} needs the API key"
        else:
            assert request.auth == {"type": "noauth"}, f"{request.label} is public"
    assert any(secured.values()) and not all(secured.values())


def test_an_idempotent_retry_is_shown() -> None:
    keyed = [r for r in REQUESTS if r.header("Idempotency-Key") is not None]
    assert len(keyed) >= 2, "a place and its retry carry an Idempotency-Key"
    first, retry = keyed[:2]
    assert (first.method, first.path, first.body) == (retry.method, retry.path, retry.body)
    assert first.header("Idempotency-Key") == retry.header("Idempotency-Key")


def test_every_variable_is_declared_and_set_before_it_is_used() -> None:
    """A request's `{{name}}` is a collection variable; one that a script sets (an order's
    id) is set by an earlier request's script, so a run top to bottom works."""
    set_at: dict[str, int] = {}
    for index, request in enumerate(REQUESTS):
        for script in request.prerequest:
            for name in _SET_IN_SCRIPT.findall(script):
                set_at.setdefault(name, index)
        texts = [
            request.raw_url,
            request.body or "",
            *(str(h["value"]) for h in request.headers),
            *(str(p["value"]) for p in request.query),
            *(str(v) for entry in request.auth.get("bearer", []) for v in entry.values()),
        ]
        for text in texts:
            for name in _VARIABLE.findall(text):
                assert name in VARIABLES, f"{request.label}: {{{{{name}}}}} is not declared"
                if not VARIABLES[name] and name != "api_key":
                    assert set_at.get(name, len(REQUESTS)) <= index, (
                        f"{request.label} uses {{{{{name}}}}} before any script sets it"
                    )
        for script in (*request.prerequest, *request.tests):
            for name in _VARIABLE.findall(script):
                assert name in VARIABLES or name in DYNAMIC_VARIABLES, name
        for script in request.tests:
            for name in _SET_IN_SCRIPT.findall(script):
                assert name in VARIABLES, f"{request.label} sets undeclared {name}"
                set_at.setdefault(name, index + 1)  # from the next request on


def test_every_request_is_routed_for_its_method() -> None:
    """Each method+path reaches an api/ function with a rule for both - its own path, or
    a vercel.json rewrite whose function routes the original path."""
    dispatcher = Dispatcher(ROOT)
    rewrites = load_rewrites(ROOT)
    for request in REQUESTS:
        path = _sample(request.path)
        file = routed(dispatcher, request.method, path)
        assert file is not None, f"{request.label}: no function routes {request.method} {path}"
        if path in rewrites:
            assert file == function_for(dispatcher, rewrites[path]), request.label


def _validate_body(request: Request, body: Any) -> object:
    """What the API makes of `body` on this route: a request model, or an ApiError."""
    symbols = load_settings({}).symbols  # the defaults: what `make run` configures
    match (request.method, request.template):
        case ("POST", "/api/orders" | "/api/place_order"):
            return parse_place(body, symbols)
        case ("PUT", "/api/orders/{}"):
            return parse_modify(body, symbols[0])
        case ("PUT", "/api/modify_order"):
            return parse_modify(body, symbols[0], allow_order_id=True)
        case ("DELETE", "/api/cancel_order") | ("GET", "/api/fetch_order"):
            # The compatibility routes' `{"order_id": "…"}` and nothing else.
            if not (isinstance(body, dict) and set(body) == {"order_id"}):
                return ApiError.of(ErrorCode.UNKNOWN_FIELD)
            return parse_order_id(body["order_id"])
    pytest.fail(f"{request.label}: this route takes no body")


def test_every_example_body_passes_the_apis_validation() -> None:
    with_body = [r for r in REQUESTS if r.body is not None]
    assert with_body
    kinds = {
        ("POST", "/api/orders"): PlaceOrder,
        ("POST", "/api/place_order"): PlaceOrder,
        ("PUT", "/api/orders/{}"): ModifyOrder,
        ("PUT", "/api/modify_order"): ModifyOrder,
    }
    for request in with_body:
        assert request.body is not None
        parsed = _validate_body(request, _json(_sample(request.body)))
        assert not isinstance(parsed, ApiError), f"{request.label}: {parsed}"
        expected = kinds.get((request.method, request.template), str)
        assert isinstance(parsed, expected), request.label
    # Every write route that needs a body has one.
    for request in REQUESTS:
        needs_body = {*kinds, ("DELETE", "/api/cancel_order")}
        if (request.method, request.template) in needs_body:
            assert request.body is not None, request.label


def test_every_query_string_passes_the_apis_validation() -> None:
    """Disabled parameters too: they are examples a user switches on."""
    symbols = load_settings({}).symbols
    for request in REQUESTS:
        args = {p["key"]: _sample(str(p["value"])) for p in request.query}
        if not args:
            continue
        result: object
        match request.template:
            case "/api/orders" | "/api/fetch_allOrders":
                result = parse_list_query(args, "orders", symbols)
            case "/api/trades" | "/api/fetch_trades":
                result = parse_list_query(args, "trades", symbols)
            case "/api/book":
                result = parse_book_query(args, symbols)
            case "/api/fetch_order":
                assert set(args) == {"order_id"}, request.label
                result = parse_order_id(args["order_id"])
            case _:
                pytest.fail(f"{request.label}: this route takes no query parameters")
        assert not isinstance(result, ApiError), f"{request.label}: {result}"
        if isinstance(result, ListQuery):
            assert result.limit >= 1


# --- the collection against docs/openapi.yaml --------------------------------------------


def _openapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI_PATH.read_text())
    return document


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path_template(path), operation


def test_every_documented_operation_is_in_the_collection_and_nothing_else() -> None:
    documented = {(method, path) for method, path, _ in _operations(_openapi())}
    collected = {(r.method, r.template) for r in REQUESTS}
    assert documented - collected == set(), "documented in docs/openapi.yaml, not in Postman"
    assert collected - documented == set(), "in Postman, not documented in docs/openapi.yaml"
    # The compatibility routes are vercel.json's rewrites: all of them are there.
    assert {path_template(p) for p in load_rewrites(ROOT)} <= {r.template for r in REQUESTS}


def _matches(example: Any, body: Any) -> bool:
    """Equal, where a body string that is one `{{variable}}` stands for any value."""
    if isinstance(body, str) and _VARIABLE.fullmatch(body):
        return True
    if isinstance(example, dict) and isinstance(body, dict):
        return example.keys() == body.keys() and all(_matches(example[k], body[k]) for k in body)
    return bool(type(example) is type(body) and example == body)


def test_every_documented_example_body_is_in_the_collection() -> None:
    """The collection's bodies are docs/openapi.yaml's examples, as written there. An
    example of a shared request body appears under one of the operations that use it."""
    document = _openapi()
    examples: dict[str, tuple[set[tuple[str, str]], list[tuple[str, Any]]]] = {}
    for method, path, operation in _operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        source = body.get("$ref", f"{method} {path}")
        if "$ref" in body:
            body = document["components"]["requestBodies"][source.rsplit("/", 1)[1]]
        found = body["content"]["application/json"].get("examples", {})
        operations, values = examples.setdefault(source, (set(), []))
        operations.add((method, path))
        values[:] = [(name, example["value"]) for name, example in found.items()]
    assert sum(len(values) for _, values in examples.values()) >= 5
    bodies = [(r.method, r.template, json.loads(r.body)) for r in REQUESTS if r.body]
    for source, (operations, values) in examples.items():
        for name, value in values:
            present = any(
                (method, path) in operations and _matches(value, body)
                for method, path, body in bodies
            )
            assert present, f"example {name!r} of {source} is not a request body in Postman"


# --- (b) the collection against a live API ------------------------------------------------

# A Postman-like sandbox: runs a request's scripts with `pm` (variables, the response,
# pm.test and the pm.expect / pm.response.to assertions the collection uses). Anything the
# collection uses that this does not implement fails loudly (a TypeError in the report).
SANDBOX = r"""
const vm = require("vm");
const crypto = require("crypto");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const vars = input.variables;
const results = [];
const show = (v) => JSON.stringify(v);
function expect(actual) {
  const check = (ok, message) => { if (!ok) throw new Error(message); };
  const chain = {
    equal: (v) => check(actual === v, `expected ${show(actual)} to equal ${show(v)}`),
    eql: (v) => check(show(actual) === show(v), `expected ${show(actual)} to eql ${show(v)}`),
    oneOf: (list) => check(list.includes(actual), `expected ${show(actual)} in ${show(list)}`),
    include: (v) => check(actual != null && actual.includes(v),
                          `expected ${show(actual)} to include ${show(v)}`),
    a: (type) => check(type === "array" ? Array.isArray(actual)
                       : !Array.isArray(actual) && actual !== null && typeof actual === type,
                       `expected ${show(actual)} to be a ${type}`),
  };
  chain.an = chain.a;
  chain.to = chain.be = chain.have = chain;
  return chain;
}
function replaceIn(text) {
  return text.replace(/\{\{([^{}]+)\}\}/g, (whole, name) => {
    if (name === "$guid" || name === "$randomUUID") return crypto.randomUUID();
    if (name === "$timestamp") return String(Math.floor(Date.now() / 1000));
    return name in vars ? vars[name] : whole;
  });
}
const response = input.response && {
  code: input.response.code,
  headers: { get: (name) => input.response.headers[name.toLowerCase()] },
  json: () => JSON.parse(input.response.body),
  text: () => input.response.body,
  to: { have: { status: (code) => expect(input.response.code).to.equal(code) } },
};
const pm = {
  collectionVariables: {
    get: (name) => vars[name],
    set: (name, value) => { vars[name] = value === undefined ? "" : String(value); },
  },
  variables: { get: (name) => vars[name], replaceIn },
  response,
  expect,
  test: (name, fn) => {
    try { fn(); results.push([name, null]); }
    catch (error) { results.push([name, String(error && error.message || error)]); }
  },
};
for (const script of input.scripts) {
  try { vm.runInNewContext(script, { pm, console }); }
  catch (error) { results.push(["(the script itself)", String(error && error.stack || error)]); }
}
process.stdout.write(JSON.stringify({ variables: vars, tests: results }));
"""


@dataclass
class Postman:
    """Runs the collection's requests and scripts, one request at a time."""

    node: str
    variables: dict[str, str]

    def run_scripts(
        self, scripts: tuple[str, ...], response: dict[str, Any] | None
    ) -> list[tuple[str, str | None]]:
        if not scripts:
            return []
        payload = {"scripts": list(scripts), "variables": self.variables, "response": response}
        done = subprocess.run(
            [self.node, "-e", SANDBOX],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout)
        self.variables = report["variables"]
        return [(str(name), error) for name, error in report["tests"]]

    def resolve(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in self.variables, f"{{{{{name}}}}} has no value"
            return self.variables[name]

        return _VARIABLE.sub(value, text)

    def send(self, client: httpx.Client, request: Request) -> httpx.Response:
        headers = {
            str(h["key"]): self.resolve(str(h["value"]))
            for h in request.headers
            if not h.get("disabled")
        }
        if request.auth.get("type") == "bearer":
            token = next(e["value"] for e in request.auth["bearer"] if e["key"] == "token")
            headers["Authorization"] = f"Bearer {self.resolve(str(token))}"
        body = None if request.body is None else self.resolve(request.body).encode()
        return client.request(
            request.method, self.resolve(request.raw_url), headers=headers, content=body
        )


def test_the_collection_runs_against_a_live_api(api: Api) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (it runs the collection's scripts)")
    _, api_key = api.new_account("postman")
    postman = Postman(node, {**VARIABLES, "base_url": api.url, "api_key": api_key})
    failures: list[str] = []
    statuses: dict[str, int] = {}
    with httpx.Client(timeout=30) as client:
        for request in REQUESTS:
            for name, error in postman.run_scripts(request.prerequest, None):
                failures.append(f"{request.label} pre-request {name}: {error}")
            response = postman.send(client, request)
            statuses[request.name] = response.status_code
            if response.status_code >= 400:
                failures.append(f"{request.label}: {response.status_code} {response.text[:300]}")
            answer = {
                "code": response.status_code,
                "headers": {k.lower(): v for k, v in response.headers.items()},
                "body": response.text,
            }
            tests = postman.run_scripts(request.tests, answer)
            assert tests, f"{request.label} has no test"
            failures += [f"{request.label} test {n!r}: {e}" for n, e in tests if e is not None]
    assert not failures, "\n".join(failures)
    # The scripts saved the placed orders' ids, and the requests after them used them.
    for name in ("order_id", "post_only_order_id", "compat_order_id"):
        assert parse_order_id(postman.variables[name]) == postman.variables[name], name
    assert len(statuses) == len(REQUESTS)
