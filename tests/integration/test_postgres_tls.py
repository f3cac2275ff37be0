"""TLS to PostgreSQL: ``POSTGRES_SSLMODE`` / ``POSTGRES_SSLROOTCERT`` reach every catalog connection.

A throwaway PostgreSQL cluster of its own (the Debian binaries of scripts/postgres-server) serves TLS with a
certificate for ``localhost`` signed by a CA made here: ``verify-full`` with that CA connects; the same mode
with another CA, or by an address the certificate does not name, is refused; the settings reach
``jackfruit db upgrade`` and the catalog alike (RDS in production: docs/deploy-aws.md).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from jackfruit.app import Jackfruit
from jackfruit.container import upgrade_catalog
from jackfruit.domain.errors import BackendUnavailable, InvalidInput
from jackfruit.settings import Settings, load_settings
from tests.conftest import require

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "jackfruit-tls-test-0123456789"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=d)


def _server_cert(d: Path) -> None:
    (d / "san.cnf").write_text("subjectAltName=DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
             "-out", "server.csr", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "san.cnf", "-out", "server.crt", cwd=d)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, f"{argv[-1]}: {done.stdout}{done.stderr}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tls_server():
    """(port, CA file, another CA's file) of a PostgreSQL cluster that requires TLS from TCP clients."""
    as_root = os.geteuid() == 0
    require("PostgreSQL 15 binaries (scripts/postgres-server installs them)", (PG_BIN / "initdb").exists(),
            f"{PG_BIN}/initdb is missing")
    require("openssl", shutil.which("openssl") is not None, "install openssl")
    # not under pytest's temporary root (mode 700): the postgres OS user must reach the cluster's files
    d = Path(tempfile.mkdtemp(prefix="jackfruit-pgtls-"))
    _make_ca(d, "ca")
    _make_ca(d, "other-ca")
    _server_cert(d)
    (d / "pw").write_text(PASSWORD + "\n")
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(d, "postgres")
        for f in ("server.key", "server.crt", "pw"):
            shutil.chown(d / f, "postgres")
    os.chmod(d / "server.key", 0o600)
    os.chmod(d, 0o755)
    _run([*run_as, str(PG_BIN / "initdb"), "-D", str(d / "data"), "-U", "jackfruit_tls", f"--pwfile={d / 'pw'}",
                    "-A", "scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"])
    # TCP clients must use TLS (hostssl only); the server's own socket stays local
    (d / "data" / "pg_hba.conf").write_text("local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
                                             "hostssl all all ::1/128 scram-sha-256\n")
    port = _free_port()
    opts = (f"-c listen_addresses=localhost -p {port} -k {d} -c ssl=on -c ssl_cert_file={d / 'server.crt'} "
            f"-c ssl_key_file={d / 'server.key'} -c shared_buffers=16MB")
    _run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(d / "data"), "-l", str(d / "server.log"), "-w", "-t", "60",
          "-o", opts, "start"])
    try:
        import psycopg

        with psycopg.connect(host="localhost", port=port, user="jackfruit_tls", password=PASSWORD, dbname="postgres",
                             sslmode="require", autocommit=True) as conn:
            conn.execute("CREATE DATABASE jackfruit")
        with psycopg.connect(host="localhost", port=port, user="jackfruit_tls", password=PASSWORD, dbname="jackfruit",
                             sslmode="require", autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
            conn.execute("CREATE EXTENSION btree_gist")
        yield port, d / "ca.crt", d / "other-ca.crt"
    finally:
        subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(d / "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def _env(monkeypatch, port: int, **extra: str) -> None:
    for k, v in {"JACKFRUIT_CATALOG": "postgres", "POSTGRES_HOST": "localhost", "POSTGRES_PORT": str(port),
                 "POSTGRES_USER": "jackfruit_tls", "POSTGRES_PASSWORD": PASSWORD, "POSTGRES_DB": "jackfruit",
                 **extra}.items():
        monkeypatch.setenv(k, v)


def test_verify_full_with_the_servers_ca_migrates_and_connects(tls_server, monkeypatch, tmp_path):
    port, ca, _ = tls_server
    _env(monkeypatch, port, POSTGRES_SSLMODE="verify-full", POSTGRES_SSLROOTCERT=str(ca))
    settings = load_settings(tmp_path)
    upgrade_catalog(settings)
    app = Jackfruit.from_settings(settings)
    try:
        # the server admits TCP clients only over TLS (hostssl): a catalog call that works went over TLS
        assert app.catalog.list_datasets()
    finally:
        app.close()
    import psycopg

    with psycopg.connect(host="localhost", port=port, user="jackfruit_tls", password=PASSWORD, dbname="jackfruit",
                         sslmode="verify-full", sslrootcert=str(ca)) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True


def test_verify_full_refuses_a_server_signed_by_another_ca(tls_server, monkeypatch, tmp_path):
    port, _, other = tls_server
    _env(monkeypatch, port, POSTGRES_SSLMODE="verify-full", POSTGRES_SSLROOTCERT=str(other))
    with pytest.raises(BackendUnavailable, match="certificate verify failed"):
        upgrade_catalog(load_settings(tmp_path))


def test_verify_full_refuses_an_address_the_certificate_does_not_name(tls_server, monkeypatch, tmp_path):
    port, ca, _ = tls_server
    _env(monkeypatch, port, POSTGRES_HOST="127.0.0.1", POSTGRES_SSLMODE="verify-full", POSTGRES_SSLROOTCERT=str(ca))
    with pytest.raises(BackendUnavailable, match="does not match host name"):
        upgrade_catalog(load_settings(tmp_path))
    # verify-ca checks the chain only: the same address passes
    monkeypatch.setenv("POSTGRES_SSLMODE", "verify-ca")
    upgrade_catalog(load_settings(tmp_path))


def test_tls_settings_are_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("POSTGRES_SSLMODE", "verify-everything")
    with pytest.raises(InvalidInput, match="POSTGRES_SSLMODE"):
        load_settings(tmp_path)
    monkeypatch.setenv("POSTGRES_SSLMODE", "verify-full")
    monkeypatch.setenv("POSTGRES_SSLROOTCERT", str(tmp_path / "missing.pem"))
    with pytest.raises(InvalidInput, match="POSTGRES_SSLROOTCERT"):
        load_settings(tmp_path)
    monkeypatch.delenv("POSTGRES_SSLROOTCERT")
    with pytest.raises(InvalidInput, match="POSTGRES_SSLROOTCERT"):
        load_settings(tmp_path)  # verify-* without a CA file would silently use ~/.postgresql/root.crt
    monkeypatch.setenv("POSTGRES_SSLMODE", "")
    assert Settings().postgres_sslmode is None
