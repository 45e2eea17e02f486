"""The trading page served as `make run` serves it: the real `vercel dev --local` (from a
copy of the project, tests/api_harness.py) in front of the stack and a matcher, with two
demo accounts offered the way devstack offers them; one headless Chromium for the package.

Screenshots go to build/test-artifacts/web/ (gitignored; the path is printed), also of
every page of a failed test.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from devstack import Stack
from devstack.cli import publish_demo_keys
from tests.api_harness import PROJECT_ROOT, Api, running_api, running_vercel_dev
from tests.api_harness import symlink_copy as link_project
from tests.web.trading import CHROMIUM, PageOpener, Web, chromium

ARTIFACTS = PROJECT_ROOT / "build" / "test-artifacts" / "web"
# public/ entries not copied: the copy has its own demo keys, and the libraries its vercel
# dev copies in itself at start (buildCommand), as on a fresh clone.
OWN_PUBLIC = frozenset({"local", "vendor"})


@pytest.fixture(scope="package")
def api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from running_api(stack, tmp_path_factory)


def page_copy(destination: Path, credentials: Path) -> Path:
    """The project as links, but public/ a copy of its own (vercel dev's snapshot of the
    output folder skips links inside it), plus local/demo-keys.json written by devstack's
    own function from `credentials`."""
    root = link_project(destination, skip={"public"})
    public = root / "public"
    shutil.copytree(PROJECT_ROOT / "public", public, ignore=shutil.ignore_patterns(*OWN_PUBLIC))
    publish_demo_keys(credentials, public / "local" / "demo-keys.json")
    return root


@pytest.fixture(scope="package")
def web(api: Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    keys = {name: api.new_account(name)[1] for name in ("alice", "bob")}
    credentials = tmp_path_factory.mktemp("credentials") / "credentials.json"
    accounts = [{"account": name, "api_key": key} for name, key in keys.items()]
    credentials.write_text(json.dumps({"accounts": accounts}))
    root = page_copy(tmp_path_factory.mktemp("web-root") / "project", credentials)
    # The page finds Socket.IO where /api/config says: this package's matcher.
    for served in running_vercel_dev(
        api, tmp_path_factory, root, SBS_REALTIME_URL=api.realtime_url
    ):
        yield Web(served.url, api, served, keys)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make chromium` installs it"
    with sync_playwright() as playwright, chromium(playwright) as launched:
        yield launched


@pytest.fixture(scope="session")
def artifacts(request: pytest.FixtureRequest) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\ntests/web: screenshots in {ARTIFACTS}", flush=True)
    return ARTIFACTS


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture
def pages(
    request: pytest.FixtureRequest, web: Web, browser: Browser, artifacts: Path
) -> Iterator[PageOpener]:
    """Opens TradingPages; closes them after the test, with a screenshot of each if the
    test failed, and fails a test whose pages logged errors."""
    opener = PageOpener(web.url, browser)
    try:
        yield opener
        if request.node.stash.get(FAILED, False):
            for page in opener.opened:
                page.screenshot(artifacts / f"{request.node.name}-{page.name}-failed.png")
        else:
            problems = [f"{page.name}: {p}" for page in opener.opened for p in page.problems]
            assert not problems, problems
    finally:
        for page in opener.opened:
            page.close()
