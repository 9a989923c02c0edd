"""``payplat run``: the operator as a process.

Order of things: settings (flags over ``PAYPLAT_*`` env) -> JSON logs -> metrics endpoint
-> engine -> Lease (a standby answers liveness probes while it waits) -> kopf. On SIGTERM
kopf stops its handlers, then the engine is closed (operations in flight cancelled
cleanly) and the Lease released so a standby takes over at once. Losing the Lease exits
with status 1: Kubernetes restarts the pod, which comes back as a standby.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError

from payplat.controller.settings import Settings

__all__ = ["add_arguments", "command", "configure_logging", "settings_from"]

logger = logging.getLogger("payplat.runner")

#: flag -> (settings field, argparse kwargs). Every flag has a PAYPLAT_<FIELD> env twin.
_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--engine": ("engine", {"choices": ["offline", "pulumi"]}),
    "--state-dir": ("state_dir", {}),
    "--backend-url": ("backend_url", {}),
    "--secrets-provider": ("secrets_provider", {}),
    "--max-concurrent-operations": ("max_concurrent_operations", {"type": int}),
    "--resync-seconds": ("resync_seconds", {"type": int}),
    "--drift-tick-seconds": ("drift_tick_seconds", {"type": float}),
    "--namespace": ("namespaces", {"action": "append", "help": "watch this namespace (repeatable)"}),
    "--cluster-wide": ("cluster_wide", {"action": "store_const", "const": True}),
    "--metrics-port": ("metrics_port", {"type": int}),
    "--liveness-endpoint": ("liveness_endpoint", {}),
    "--log-format": ("log_format", {"choices": ["json", "text"]}),
    "--log-level": ("log_level", {"choices": ["DEBUG", "INFO", "WARNING", "ERROR"]}),
    "--offline-step-delay": ("offline_step_delay", {"type": float}),
    "--no-leader-election": ("leader_election", {"action": "store_const", "const": False}),
    "--lease-name": ("lease_name", {}),
    "--lease-namespace": ("lease_namespace", {}),
    "--lease-duration-seconds": ("lease_duration_seconds", {"type": int}),
    "--identity": ("identity", {}),
    "--backoff-base-seconds": ("backoff_base_seconds", {"type": float}),
    "--backoff-cap-seconds": ("backoff_cap_seconds", {"type": float}),
    "--assume-role-allowlist": ("assume_role_allowlist", {}),
    "--claims-configmap": ("claims_configmap", {}),
    "--max-unrecognised-attempts": ("max_unrecognised_attempts", {"type": int}),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for flag, (field, table_options) in _FLAGS.items():
        options = dict(table_options)
        described = options.pop("help", Settings.model_fields[field].description or "")
        parser.add_argument(
            flag, dest=field, default=None, help=f"{described} [env PAYPLAT_{field.upper()}]", **options
        )


def settings_from(args: argparse.Namespace) -> Settings:
    """Flags given on the command line win; everything else comes from the environment."""
    given = {
        field: value for field, value in vars(args).items() if value is not None and field in Settings.model_fields
    }
    return Settings(**given)


def command(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except ValidationError as error:
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"])
            if not field:  # a rule across settings: its message names the variables
                print(f"payplat run: {problem['msg'].removeprefix('Value error, ')}", file=sys.stderr)
                continue
            print(
                f"payplat run: {field} (flag --{field.replace('_', '-')}, env PAYPLAT_{field.upper()}): "
                f"{problem['msg']} (got {problem.get('input')!r})",
                file=sys.stderr,
            )
        return 2
    configure_logging(settings)
    return asyncio.run(run(settings))


def configure_logging(settings: Settings) -> None:
    """kopf's formatter (JSON or text) on the root logger, so kopf's own records and ours
    come out alike; every record passes the secret-redacting filter."""
    import kopf

    from payplat.controller.redaction import RedactingFilter

    log_format = kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(debug=settings.log_level == "DEBUG", log_format=log_format, log_refkey="object")
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    for handler in root.handlers:
        handler.addFilter(RedactingFilter())


async def run(settings: Settings) -> int:
    import kopf

    # Importing the handler modules registers their kopf handlers (handlers imports
    # handlerreview, whose policy index and status handlers register with it); nothing
    # else imports handlers, so without this import no create/update/delete handler runs.
    from payplat.controller import handlerdrift, handlers, kube  # noqa: F401  # handlers: registration
    from payplat.controller.leadership import LeaseElector
    from payplat.controller.metrics import Metrics
    from payplat.controller.operations import Runtime
    from payplat.engines import create_engine
    from payplat.engines.base import Engine
    from payplat.engines.locks import this_identity
    from payplat.model.tenancy import AllowList

    stop = asyncio.Event()
    _on_signals(stop.set)
    metrics = Metrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    admin_namespace = settings.lease_namespace_in_force()  # the operator's own: only administrators write there

    async def read_allowlist() -> AllowList:
        return await kube.read_allowlist(admin_namespace, settings.assume_role_allowlist)

    handlerdrift.register_drift_timer(settings.drift_tick_seconds)
    elector: LeaseElector | None = None
    keeper: asyncio.Task[None] | None = None
    engine: Engine | None = None
    try:
        if settings.leader_election:
            elector = LeaseElector(
                settings.lease_name,
                settings.lease_namespace_in_force(),
                settings.identity,
                settings.lease_duration_seconds,
            )
            async with _standby_liveness(settings.liveness_endpoint):
                if not await elector.acquire(stop):
                    return 0
            keeper = asyncio.create_task(elector.keep(stop.set), name="lease keeper")
        # Created once leading: its operation records name this cluster by the Lease's UID.
        engine = create_engine(
            settings.engine,
            state_dir=settings.state_dir,
            backend_url=settings.backend_url,
            secrets_provider=settings.secrets_provider,
            step_delay=settings.offline_step_delay,
            pod_probe=kube.pod_gone,
            identity=this_identity(cluster=elector.lease_uid if elector is not None else None),
            log=logging.getLogger("payplat.engine"),
        )
        runtime = Runtime(
            engine=engine,
            settings=settings,
            read_secret=kube.read_secret,
            publish_status=kube.publish_status,
            read_platform=kube.read_platform,
            metrics=metrics,
            claims=kube.ConfigMapClaims(admin_namespace, settings.claims_configmap),
            read_allowlist=read_allowlist,
            publish_policy_status=kube.publish_policy_status,
            plans=kube.ConfigMapPlans(),
        )
        for old, new in await engine.migrate_stacks():  # the leader only, before any handler runs
            logger.warning("stack %s (named before 0.2) is now %s", old, new)
        clusterwide, namespaces = settings.watch_scope()
        logger.info(
            "starting: engine=%s scope=%s concurrency=%d",
            engine.name,
            "cluster-wide" if clusterwide else ",".join(namespaces),
            settings.max_concurrent_operations,
        )
        await kopf.operator(
            clusterwide=clusterwide,
            namespaces=namespaces,
            standalone=True,
            liveness_endpoint=settings.liveness_endpoint,
            memo=kopf.Memo(runtime=runtime),
            stop_flag=stop,
        )
    finally:
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if engine is not None:
            await engine.close()
        if elector is not None:
            await elector.release()
    return 1 if elector is not None and elector.lost else 0


def _on_signals(callback: Any) -> None:
    """SIGTERM/SIGINT before kopf starts (kopf installs its own handlers once it runs)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, callback)


@contextlib.asynccontextmanager
async def _standby_liveness(endpoint: str | None) -> AsyncIterator[None]:
    """Answer liveness probes while a standby waits for the Lease (kopf's own endpoint
    only starts with kopf); the port is handed over to kopf afterwards."""
    if not endpoint:
        yield
        return
    from aiohttp import web

    parts = urllib.parse.urlsplit(endpoint)

    async def alive(_: web.Request) -> web.Response:
        return web.json_response({"standby": True})

    app = web.Application()
    app.add_routes([web.get(parts.path or "/", alive)])
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, parts.hostname or "127.0.0.1", parts.port or 80).start()
    try:
        yield
    finally:
        await runner.cleanup()
