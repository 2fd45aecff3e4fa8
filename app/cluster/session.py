"""Joining a Ray cluster, starting the music workers on it, and telling a lost worker from a lost cluster."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import ray
from ray import serve
from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError
from ray.serve.handle import DeploymentHandle

from app.settings import Settings

from .errors import ClusterUnreachable
from .identity import worker_identity
from .placement import ReplicaPlan, plan_replicas
from .worker import APP_NAME, MusicWorker

log = logging.getLogger(__name__)

# The Ray Client server this process last joined through ([] when it joined as a driver): Ray's own connection
# is one per process, and Ray Client keeps its address to itself.
_client_server: list[str] = []

LOCAL = "local"  # HEARTSONG_RAY_ADDRESS=local: a cluster of this computer, started (and stopped) by the studio
CLIENT = "ray://"  # HEARTSONG_RAY_ADDRESS=ray://HOST:PORT: the cluster's Ray Client server
CONNECT_S = 5.0  # how long a cluster's address may take to answer at all
CHECKOUT = Path(__file__).resolve().parents[2]  # the Heartsong folder: every machine has it at this same path
FOLDER_SETTINGS = ("data_dir", "lm_dir", "gen_dir", "codec_dir", "encoder_dir", "style_dir", "transcriber_dir",
                   "ckpt_dir")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def join(address: str) -> None:
    """Connect this process to the cluster at `address` ("auto", "HOST:PORT", "ray://HOST:PORT" through Ray
    Client, or "local" to start one here, which stops with this process). Already connected (another studio in
    this process): nothing to do.

    Raises:
        ClusterUnreachable: no cluster answers at `address`.
    """
    if ray.is_initialized():
        return
    silent = unanswered(address.removeprefix(CLIENT))
    if silent is not None:
        raise ClusterUnreachable(_unreachable(address, silent))
    # The workers' logs stay in the cluster's log folder: the studio's console is the musician's.
    options = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address == LOCAL:
            ray.init(include_dashboard=False, **options)
        elif through_client(address):
            _init_client(address, options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        why = first_line(exc)
        if through_client(address) and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
            # Ray Client sends the cluster's token only when told to; without it a protected server never answers.
            why += "; a cluster protected by a token (Ray's default) also needs RAY_AUTH_MODE=token beside the studio"
        raise ClusterUnreachable(_unreachable(address, why)) from None
    _client_server[:] = [address.removeprefix(CLIENT)] if through_client(address) else []


def _init_client(address: str, options: dict[str, Any]) -> None:
    """`ray.init` through Ray Client. Its server on the head starts a server process for each studio, which
    unpickles what the studio sends (settings, songs): it finds Heartsong's code at the same path as every machine
    of the cluster (README), like the workers. That process once died at its start here, under load
    ("Initialization failure from server", nothing in its log), and a later try worked: so one more try."""
    # Ray Client's own warnings (its reconnects, its server's log) would repeat on the console what the studio
    # says in one line.
    options = {**options, "logging_level": logging.ERROR}
    try:
        ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": str(CHECKOUT)}}, **options)
    except ConnectionAbortedError as exc:
        # Its message carries the server's whole traceback; its last line says what failed.
        why = (str(exc).strip().splitlines() or [""])[-1].strip()
        log.warning("Ray Client's server did not start a server for this studio (%s); trying again", why)
        ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": str(CHECKOUT)}}, **options)


def through_client(address: str) -> bool:
    """Whether `address` joins through Ray Client ("ray://HOST:PORT"): the studio is not a driver of the
    cluster, and its songs stream through a bridge actor (bridge.py)."""
    return address.startswith(CLIENT)


def _unreachable(address: str, why: str) -> str:
    return (f"No Ray cluster answers at HEARTSONG_RAY_ADDRESS={address} ({why}). Start one (`ray start --head`), "
            "fix the address, or leave the setting empty to make the music on this computer.")


def unanswered(address: str) -> str | None:
    """Why nothing answers at a "HOST:PORT" address within `CONNECT_S`, or None when something does (or the
    address names no port: "auto", "local"). Ray itself waits for a cluster's GCS for ever at a HOST:PORT address;
    the studio says so at once instead."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_S):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def leave() -> None:
    """Disconnect; a cluster this process started (`local`) stops with its workers."""
    ray.shutdown()  # (`_client_server` stays: only a joined process reads it, and each join sets it)


def joined() -> bool:
    """Whether this process is joined to a cluster (it may be one that stopped answering)."""
    return ray.is_initialized()


def still_joined() -> bool:
    """Whether this process is joined to a cluster whose head still answers. Ray ends a process whose cluster's
    head stays silent for a minute (its GCS reconnect timeout), so a studio that finds it silent leaves at once
    and joins again when it is back (maker.py)."""
    if not ray.is_initialized():
        return False
    # Through Ray Client the studio may reach only the client server's port (not the head's GCS): that is the
    # one asked. Ray Client would otherwise wait 30 s for a vanished server, blocking every call meanwhile.
    head = _client_server[0] if _client_server else ray.get_runtime_context().gcs_address
    return unanswered(head) is None


def deploy(settings: Settings, running_identity: str = "") -> tuple[DeploymentHandle, ReplicaPlan, str]:
    """Start the music workers on the joined cluster (updating an app of an earlier run): one per GPU, or as
    many as `settings.ray_replicas` says; returns the app's handle, the plan it ran and the workers' identity
    (identity.py). Workers already running with `running_identity`, this studio's own, are used as they are: a
    deploy would replace them under the songs other studios are making on them.

    Raises:
        ClusterUnreachable: the workers cannot start there (too few GPUs, a worker that fails to start).
    """
    try:
        plan = plan_replicas(ray.cluster_resources(), settings.ray_replicas, settings.threads)
    except ValueError as exc:
        raise ClusterUnreachable(f"The Ray cluster at {settings.ray_address} cannot run the music workers: {exc}.") from None
    # The workers need the model folders (absolute: a worker's process runs in a folder of Ray's) and the engine
    # settings, never the LLM key.
    folders = {name: path.resolve() for name in FOLDER_SETTINGS if (path := getattr(settings, name)) is not None}
    worker_settings = settings.model_copy(update={"openai_api_key": None, **folders})
    # A worker process on a machine whose Ray was started by `ray start` (not by this studio) finds Heartsong's
    # code through its path, which is the same on every machine.
    options = {**plan.actor_options(), "runtime_env": {"env_vars": {"PYTHONPATH": str(CHECKOUT)}}}
    identity = worker_identity(worker_settings, plan, CHECKOUT)
    if identity == running_identity and app_running():
        log.info("the music workers running on the cluster are this studio's: used as they are")
        return serve.get_app_handle(APP_NAME), plan, identity
    app = MusicWorker.options(num_replicas=plan.replicas, ray_actor_options=options).bind(worker_settings, plan.threads)
    try:
        # The studio calls the workers through handles only: no HTTP proxy (a no-op where Serve already runs).
        serve.start(proxy_location="Disabled")
        handle = serve.run(app, name=APP_NAME, route_prefix=None)
    except RuntimeError as exc:
        raise ClusterUnreachable(
            f"The music workers did not start on the Ray cluster at {settings.ray_address}: {first_line(exc)}"
        ) from None
    return handle, plan, identity


def app_running() -> bool:
    """Whether the workers' Serve app runs on the joined cluster (not deleted, not failed, not being deployed)."""
    try:
        app = serve.status().applications.get(APP_NAME)
    except Exception as exc:  # Serve not started there: nothing runs
        log.info("Serve did not say whether the music workers run: %s", first_line(exc))
        return False
    return app is not None and app.status == "RUNNING"


def worker_lost(exc: BaseException) -> bool:
    """Whether `exc`, raised by a request, means its replica died (a retry on another one can work), rather
    than the cluster going away or the request failing."""
    return isinstance(exc, (ray.exceptions.RayActorError, ReplicaUnavailableError))


def workers_gone(exc: BaseException) -> bool:
    """Whether `exc`, raised by a request, means the workers' Serve app was deleted (`serve shutdown`)."""
    return isinstance(exc, DeploymentUnavailableError)
