"""The apps that `api_overhead.py` serves, and a runner that serves one exactly like `waza api`.

* ``waza_app``: the real platform app (``waza.gateway.app.create_app()``, settings from the
  ``WAZA_*`` environment) plus one bare route, ``GET /bench/bare``, that goes through the same
  middleware stack but has no auth and no dependencies. It is put *first* in the route table:
  FastAPI tries routes in order, and scanning the included routers to reach a route at the end
  costs more than the route itself (about 80 µs of CPU here), which would flatter (a)/(b).
* ``plain_app``: a plain ``FastAPI()`` with only that bare route: no waza middleware, no logging.

Run ``python -m benchmarks._bench_app {waza,plain} --port N`` (repository root on ``PYTHONPATH``).
Both apps are served with the uvicorn settings of ``waza api`` (``waza.cli.api``), so the only
difference between the servers is the app.
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI

BARE_PATH = "/bench/bare"
FACTORIES = {
    "waza": "benchmarks._bench_app:waza_app",
    "plain": "benchmarks._bench_app:plain_app",
}


async def bare() -> dict[str, str]:
    """The cheapest useful FastAPI route: async, no parameters, a small JSON body."""
    return {"status": "ok"}


def _add_bare_route(app: FastAPI) -> FastAPI:
    """Add the bare route as the first route, so that routing finds it at once."""
    app.add_api_route(BARE_PATH, bare, methods=["GET"], include_in_schema=False)
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def waza_app() -> FastAPI:
    """The platform app, configured from the environment, with the bare route first."""
    from waza.gateway.app import create_app

    return _add_bare_route(create_app())


def plain_app() -> FastAPI:
    """A FastAPI app with nothing but the bare route."""
    return _add_bare_route(FastAPI())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=sorted(FACTORIES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    import uvicorn

    # Keep in step with `waza api` in platform/waza/cli.py.
    uvicorn.run(
        FACTORIES[args.app],
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        log_config=None,
        proxy_headers=True,
        access_log=False,
    )


if __name__ == "__main__":
    main()
