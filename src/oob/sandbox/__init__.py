"""The sandbox: Jenkins, GitHub, Slack and the CMS, imitated on the wire, in simulated time.

It is the stand-in behind `oob rehearse`, the backbone of the test suite and a drill environment.
It is deliberately separate from oob's adapters and config models: if both sides shared a
mistake, the tests would pass and production would fail.

Start one in-process::

    from oob.sandbox.server import SandboxServer
    from oob.sandbox.world import Options

    with SandboxServer(Options(scenario="happy", time_scale=0)) as sandbox:
        ...  # sandbox.url, sandbox.advance(seconds), sandbox.state(), sandbox.ledger()

`oob.sandbox.app.create_app` gives the bare ASGI app (for `httpx.ASGITransport`), and
`oob.sandbox.configfile.render_config` the oob.toml that points oob at a sandbox.
"""
