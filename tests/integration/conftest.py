import asyncio
import inspect
import os

import pytest

import wsgw

TEST_TIMEOUT = 60  # hard limit per async test, in seconds


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests in a fresh event loop; close their listeners afterwards."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}

    async def run():
        try:
            await asyncio.wait_for(pyfuncitem.obj(**args), TEST_TIMEOUT)
        finally:
            await wsgw.close_all_listeners()

    asyncio.run(run())
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the broker log(s) to the report of a failing test."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when in ("setup", "call"):
        for i, b in enumerate(getattr(item, "wsgw_brokers", [])):
            rc = b.unexpected_exit()
            if rc is not None:
                rep.sections.append((f"broker #{i}", f"exited with {rc} without the harness "
                                     "stopping it (crash, or a signal from another process)"))
            rep.sections.append((f"broker log #{i} ({b.log_path})", b.log_tail()))


@pytest.fixture
def start_gateway(request):
    """Factory: start_gateway(persistence=False, acl=None, plugin=True, env=None,
    broker_conf=(), wait=True, **plugin_opts) -> a running wsgw.Broker (plugin option
    None = leave it out; env = extra environment of the broker process; broker_conf =
    extra mosquitto.conf lines).
    Teardown stops every broker and fails on sanitizer reports in its log."""
    brokers = []
    request.node.wsgw_brokers = brokers

    def start(wait=True, **kw):
        if not os.path.exists(wsgw.PLUGIN):
            pytest.fail(f"plugin not built: {wsgw.PLUGIN} (build it or set WSGW_PLUGIN)")
        b = wsgw.Broker(**kw)
        brokers.append(b)
        return b.start(wait=wait)

    yield start
    bad = []
    for b in brokers:
        b.stop()
        if b.sanitizer_errors():
            bad.append(b)
        else:
            b.cleanup()
    if bad:
        pytest.fail("sanitizer errors in broker log:\n" + "\n\n".join(b.log() for b in bad),
                    pytrace=False)
