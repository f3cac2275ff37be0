"""DockerRunner: runs the Go ingester image (``jackfruit-ingest``) as a sibling container and owns its lifecycle.

The protocol is ``ingester_protocol``'s, unchanged: the same argv (``build_args``; the image's entrypoint is the
binary), the same stdin line (``input_line``: request, ADS key, S3 credentials), the same event/result parsing,
error kinds and redaction. What is Docker's:

* **pre-flight**: the image must already be in the daemon (``images.get``); a missing image is a
  ``BackendUnavailable`` naming it and ``scripts/ingest-image`` -- nothing is ever pulled (``create`` is used,
  never ``run``, which would pull).
* **stdin is the lifeline**: the container is created with ``stdin_open`` + ``stdin_once`` and attached *before*
  it starts, on one hijacked connection carrying stdin, stdout and stderr (``tty=False``: stdout and stderr come
  as multiplexed frames, demultiplexed by ``docker_attach.Attached``). The one line is written, then the connection stays open. When it
  closes -- this side half-closes it to cancel, or this process dies and the kernel closes it -- the daemon closes
  the container's stdin (``StdinOnce``), the ingester sees EOF, cancels itself and commits nothing.
* **secrets only on stdin**: argv, labels and environment (all of which ``docker inspect`` shows) carry none; the
  container gets no environment of ours at all.
* **labels** ``org.jackfruit.run-id``, ``org.jackfruit.attempt-id``, ``org.jackfruit.owner``: ``sweep`` finds
  leftover containers by them and stops and removes those whose attempt is no longer live (never a live one).
* **deadline**: after ``timeout_s + margin_s`` (the ingester's own ``--timeout`` fires first) the container is
  killed; it is always removed in ``finally``.
* ``init=True`` (signals reach the ingester), explicit ``network_mode`` (default ``host``: loopback services),
  optional memory / CPU limits, read-only root file system, no capabilities, no new privileges.
* **filesystem sinks**: the bucket directory is bind-mounted at the same path (the ``file://`` URL stays valid)
  and the container runs as this process's uid:gid -- the image's own user (65534) cannot write into a bucket
  directory owned by the host user, and objects must belong to the host user like the subprocess runner's
  (read-only 0444, staged under ``.partial/``, linked into place by the Go sink). S3 sinks mount nothing and keep
  the image's unprivileged user.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid
from typing import Any, Callable

import docker
import docker.errors
import requests.exceptions

from jackfruit.domain.errors import BackendUnavailable, InvalidInput
from jackfruit.ports.runner import AdsTuning, IngestJob, IngestManifest, JobQuery, RunnerEvent, SinkTarget

from .docker_attach import Attached
from .ingester_protocol import (QUERY_TIMEOUT_S, IngesterQueries, build_args, input_line, manifest_from_result,
                                query_args, query_line, query_secrets, secrets_of, sink_credentials)

__all__ = ["DEFAULT_IMAGE", "DockerRunner", "LABEL_ATTEMPT", "LABEL_OWNER", "LABEL_QUERY", "LABEL_RUN"]

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "jackfruit-ingest:dev"
LABEL_RUN = "org.jackfruit.run-id"
LABEL_ATTEMPT = "org.jackfruit.attempt-id"
LABEL_OWNER = "org.jackfruit.owner"
#: a query's container (``find_job``, ``job_status``): the mode it answers
LABEL_QUERY = "org.jackfruit.query"
#: an exited query container older than this (created that long ago) is a dead caller's leftover: longer than any
#: query can last (its deadline, the runner's margin and more)
QUERY_LEFTOVER_S = QUERY_TIMEOUT_S + 180
#: the path of the binary in the image (its entrypoint); argv[0] of ``build_args``, not passed as a command
IMAGE_BINARY = "/jackfruit-ingest"

#: errors of the Docker SDK and of its HTTP transport (``wait(timeout)`` raises ConnectionError on time-out)
_DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _file_sink_dir(sink: SinkTarget) -> str | None:
    if not sink.url.startswith("file://"):
        return None
    path = sink.url[len("file://"):]
    if not os.path.isabs(path):
        raise InvalidInput(f"the raw bucket's target {sink.url!r} must name an absolute directory")
    return path


class DockerRunner(IngesterQueries):
    """Runs the ingester image in a sibling container committing to ``sink``, the raw bucket's target (a
    directory path is taken as ``file://`` that directory)."""

    def __init__(self, sink: SinkTarget | str | os.PathLike[str], *, image: str = DEFAULT_IMAGE,
                 client: Any = None, base_url: str | None = None, network_mode: str = "host",
                 mem_limit: str | int | None = None, cpus: float | None = None, user: str | None = None,
                 timeout_s: float = 3600, extra_args: tuple[str, ...] = (), grace_s: float = 5.0,
                 margin_s: float = 30.0, owner: str | None = None,
                 is_live: Callable[[str, str], bool] | None = None, tuning: AdsTuning | None = None) -> None:
        """``client``: a ``docker.DockerClient`` (else one for ``base_url``, else from the environment:
        DOCKER_HOST...), made on first use. ``network_mode`` is always passed (``host`` reaches loopback
        services; ``none`` isolates). ``mem_limit`` (bytes or ``"512m"``) and ``cpus`` limit the container.
        ``user`` overrides who the container runs as (default: this process's uid:gid for a filesystem sink,
        the image's user for S3). ``timeout_s`` is the ingester's own deadline; after ``timeout_s + margin_s``
        the container is killed; a container still running ``grace_s`` after its stdin closed is killed.
        ``owner`` is recorded in the ``org.jackfruit.owner`` label (default ``host:pid``). ``is_live(run_id,
        attempt_id)``, when given, makes every ``run`` start with ``sweep(is_live)``. ``tuning``: poll, queue and retry
        settings passed as flags (None: the image's binary defaults); ``extra_args`` come after them and win."""
        self._sink = sink if isinstance(sink, SinkTarget) else SinkTarget.directory(os.fspath(sink))
        self._sink_dir = _file_sink_dir(self._sink)
        self._image = image
        self._client = client
        self._base_url = base_url
        self._client_lock = threading.Lock()
        if not network_mode:
            raise InvalidInput("the Docker runner needs an explicit network mode (host, none, or a network name)")
        self._network_mode = network_mode
        if cpus is not None and cpus <= 0:
            raise InvalidInput(f"the Docker runner's CPU limit must be positive, got {cpus}")
        self._nano_cpus = int(cpus * 1e9) if cpus else None
        self._mem_limit = mem_limit or None
        if self._mem_limit is not None:
            try:
                docker.utils.parse_bytes(self._mem_limit)
            except docker.errors.DockerException as err:
                raise InvalidInput(f"the Docker runner's memory limit {mem_limit!r} is not a size: {err}") from err
        self._user = user if user is not None else (
            f"{os.getuid()}:{os.getgid()}" if self._sink_dir is not None else None)
        self._timeout_s = timeout_s
        self._extra = extra_args
        self._grace_s = grace_s
        self._margin_s = margin_s
        self._owner = owner or _default_owner()
        self._is_live = is_live
        self._tuning = tuning

    # -- the daemon -----------------------------------------------------------------------------------------------
    def _docker(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = (docker.DockerClient(base_url=self._base_url) if self._base_url
                                    else docker.from_env())
                    self._client.ping()
                except _DOCKER_ERRORS as err:
                    self._client = None
                    where = self._base_url or os.environ.get("DOCKER_HOST") or "the default socket"
                    raise BackendUnavailable(f"cannot reach the Docker daemon at {where} ({type(err).__name__}: "
                                             f"{err}); start one with scripts/docker-daemon start") from err
            return self._client

    def _preflight(self, client: Any) -> None:
        """The image must be in the daemon already: never pulled."""
        try:
            client.images.get(self._image)
        except docker.errors.ImageNotFound as err:
            raise BackendUnavailable(
                f"the ingester image {self._image!r} is not in the Docker daemon (nothing is pulled): build it "
                f"with scripts/ingest-image (JACKFRUIT_INGEST_IMAGE names the tag)") from err
        except _DOCKER_ERRORS as err:
            raise BackendUnavailable(f"cannot look up the ingester image {self._image!r}: {err}") from err

    # -- leftovers --------------------------------------------------------------------------------------------------
    def sweep(self, is_live: Callable[[str, str], bool]) -> list[str]:
        """Stop and remove every labelled ingester container whose attempt ``is_live(run_id, attempt_id)`` says
        is no longer live (its lease expired or ended: its parent died or lost the claim). A container whose
        predicate raises, or that carries no run id, is left alone. Returns the names of the containers removed."""
        client = self._docker()
        removed: list[str] = []
        try:
            found = client.api.containers(all=True, filters={"label": LABEL_RUN})
        except _DOCKER_ERRORS as err:
            raise BackendUnavailable(f"cannot list the ingester containers: {err}") from err
        for entry in found:
            labels = entry.get("Labels") or {}
            run_id, attempt_id = labels.get(LABEL_RUN, ""), labels.get(LABEL_ATTEMPT, "")
            if not run_id:
                continue
            try:
                if is_live(run_id, attempt_id):
                    continue
            except Exception as err:  # noqa: BLE001 - cannot tell: never stop what may be a live run's container
                log.warning("sweep: cannot tell whether attempt %s of run %s is live (%s); container kept",
                            attempt_id, run_id, err)
                continue
            name = ((entry.get("Names") or [""])[0].lstrip("/")) or entry["Id"][:12]
            try:
                if entry.get("State") == "running":
                    client.api.stop(entry["Id"], timeout=max(1, int(self._grace_s)))  # SIGTERM: the ingester aborts
                client.api.remove_container(entry["Id"], force=True)
                removed.append(name)
                log.info("sweep: removed ingester container %s (run %s, attempt %s)", name, run_id, attempt_id)
            except docker.errors.NotFound:
                pass  # removed meanwhile (another sweep, or its own runner)
            except docker.errors.APIError as err:
                if err.status_code != 409:  # 409: a removal already in progress
                    log.warning("sweep: cannot remove %s: %s", name, err)
            except _DOCKER_ERRORS as err:
                log.warning("sweep: cannot remove %s: %s", name, err)
        return removed + self._sweep_queries(client)

    def _sweep_queries(self, client: Any) -> list[str]:
        """Removes query containers left exited by a caller that died mid-query (the query stops by itself when
        its stdin closes), once older than any query can last: never one whose runner still collects it."""
        removed: list[str] = []
        oldest = time.time() - QUERY_LEFTOVER_S
        try:
            found = client.api.containers(all=True, filters={"label": LABEL_QUERY, "status": "exited"})
        except _DOCKER_ERRORS as err:
            raise BackendUnavailable(f"cannot list the ingester containers: {err}") from err
        for entry in found:
            if entry.get("Created", oldest) >= oldest:
                continue
            try:
                client.api.remove_container(entry["Id"], force=True)
                removed.append(((entry.get("Names") or [""])[0].lstrip("/")) or entry["Id"][:12])
            except _DOCKER_ERRORS as err:  # gone meanwhile, or a removal in progress: the next sweep sees
                log.debug("sweep: query container %s not removed: %s", entry["Id"][:12], err)
        return removed

    # -- one container ---------------------------------------------------------------------------------------------
    def _labels(self, job: IngestJob) -> dict[str, str]:
        return {LABEL_RUN: job.run_id, LABEL_ATTEMPT: job.attempt_id, LABEL_OWNER: self._owner}

    def _create(self, client: Any, args: list[str], labels: dict[str, str], ident: str, sink: bool) -> str:
        """Creates (never pulls) the container running ``args``; ``sink``: it commits to the raw bucket (a
        filesystem bucket is bind-mounted, and the container runs as ``user``); a query mounts nothing and runs as
        the image's unprivileged user."""
        api = client.api
        binds = None
        if sink and self._sink_dir is not None:
            try:
                os.makedirs(self._sink_dir, exist_ok=True)  # else the daemon would create it, owned by root
            except OSError as err:
                raise BackendUnavailable(f"cannot create the raw bucket directory {self._sink_dir}: "
                                         f"{err.strerror}") from err
            binds = {self._sink_dir: {"bind": self._sink_dir, "mode": "rw"}}
        host_config = api.create_host_config(
            init=True, network_mode=self._network_mode, binds=binds, mem_limit=self._mem_limit,
            nano_cpus=self._nano_cpus, read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"])
        # the ids are only validated by the ingester (a bad one is its usage error): the name keeps safe characters
        ident = re.sub(r"[^a-z0-9-]", "", ident.lower())[:36]
        name = f"jackfruit-ingest-{ident}-{uuid.uuid4().hex[:6]}".replace("--", "-")
        try:
            created = api.create_container(
                self._image, command=args[1:], name=name, user=self._user if sink else None, detach=False,
                stdin_open=True, tty=False, environment=[], labels=labels, host_config=host_config)
        except docker.errors.ImageNotFound as err:  # removed between the pre-flight and now
            raise BackendUnavailable(f"the ingester image {self._image!r} is gone: build it with "
                                     "scripts/ingest-image") from err
        except _DOCKER_ERRORS as err:
            raise BackendUnavailable(f"cannot create the ingester container: {err}") from err
        return str(created["Id"])

    def run(self, job: IngestJob, on_event: Callable[[RunnerEvent], None] | None = None) -> IngestManifest:
        client = self._docker()
        if self._is_live is not None:
            try:
                self.sweep(self._is_live)
            except BackendUnavailable as err:  # a sweep that cannot run does not stop this job
                log.warning("sweep before the run failed: %s", err)
        self._preflight(client)
        sink_secrets = sink_credentials(self._sink)
        args = build_args(IMAGE_BINARY, job, self._sink, self._timeout_s, self._extra, self._tuning)
        cid = self._create(client, args, self._labels(job), job.attempt_id or job.run_id, sink=True)
        result = self._execute(client, cid, input_line(job, sink_secrets), secrets_of(job, sink_secrets), on_event,
                               job.resume_job_id, self._timeout_s)
        return manifest_from_result(result)

    # -- questions about the upstream's jobs (IngesterQueries): a short-lived sibling container each, like an ingest
    def _query(self, query: JobQuery, mode: list[str]) -> dict[str, Any]:
        client = self._docker()
        self._preflight(client)
        args = query_args(IMAGE_BINARY, query, mode, self._timeout_s, self._extra, self._tuning)
        labels = {LABEL_QUERY: mode[0].lstrip("-"), LABEL_OWNER: self._owner}
        cid = self._create(client, args, labels, mode[0].lstrip("-"), sink=False)
        return self._execute(client, cid, query_line(query), query_secrets(query), None, None,
                             min(self._timeout_s, QUERY_TIMEOUT_S))

    def _execute(self, client: Any, cid: str, line: bytes, secret: list[str],
                 on_event: Callable[[RunnerEvent], None] | None, job_id: str | None,
                 timeout_s: float) -> dict[str, Any]:
        """Attaches to the created container ``cid``, starts it, writes ``line`` on its stdin (kept open: its
        lifeline) and collects its output until it exits or ``timeout_s + margin_s`` pass; the container is always
        stopped and removed. Returns its result line (``IngesterOutput.result``)."""
        api = client.api
        attached: Attached | None = None
        timed_out = False
        exit_code: int | None = None
        try:
            try:
                sockio = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
                attached = Attached(sockio, secret, on_event)  # attached before start: no output is missed
                api.start(cid)
            except _DOCKER_ERRORS as err:
                raise BackendUnavailable(f"cannot start the ingester container: {err}") from err
            attached.send(line)  # the connection stays open: the container's lifeline
            # the output ends when the container exits; the ingester's own --timeout fires first
            attached.reader.join(timeout=timeout_s + self._margin_s)
            if attached.reader.is_alive():
                timed_out = True
                self._kill(api, cid)
        finally:
            # Normal exit, error, time-out, KeyboardInterrupt: the container is always stopped and removed here.
            exit_code = self._stop(api, cid, attached)
        assert attached is not None
        failure = None
        if timed_out:
            failure = f"the ingester did not finish within {timeout_s + self._margin_s:.0f} s; its container was killed"
        elif exit_code is None:
            failure = f"lost the ingester container (its output ended: {attached.stream_error or 'no exit status'})"
        return attached.output.result(exit_code, job_id=job_id, failure=failure)

    @staticmethod
    def _kill(api: Any, cid: str) -> None:
        try:
            api.kill(cid)
        except docker.errors.APIError as err:
            if err.status_code not in (404, 409):  # gone, or no longer running
                log.warning("cannot kill ingester container %s: %s", cid[:12], err)
        except _DOCKER_ERRORS as err:
            log.warning("cannot kill ingester container %s: %s", cid[:12], err)

    def _stop(self, api: Any, cid: str, attached: Attached | None) -> int | None:
        """Cut the lifeline, let the ingester stop for ``grace_s``, kill it if still running, collect its exit
        status, remove the container. Raises nothing of its own (it runs in ``finally``); returns the exit
        status, or None when it cannot be had."""
        try:
            if attached is not None:
                attached.close_stdin()
                attached.reader.join(timeout=self._grace_s)  # the output ends when the container exits
                if attached.reader.is_alive():
                    self._kill(api, cid)
            try:
                return int(api.wait(cid, timeout=10)["StatusCode"])
            except (*_DOCKER_ERRORS, KeyError, TypeError, ValueError):
                self._kill(api, cid)
                return None
        except BaseException:  # e.g. KeyboardInterrupt while waiting: kill; still closed and removed below
            self._kill(api, cid)
            raise
        finally:
            if attached is not None:
                attached.close()
            self._remove(api, cid)

    @staticmethod
    def _remove(api: Any, cid: str) -> None:
        for attempt in range(3):
            try:
                api.remove_container(cid, force=True)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as err:
                if err.status_code == 409 and "in progress" in str(err):
                    return
                last: BaseException = err
            except _DOCKER_ERRORS as err:
                last = err
            time.sleep(0.2 * (attempt + 1))
        log.warning("cannot remove ingester container %s (a later sweep will): %s", cid[:12], last)

