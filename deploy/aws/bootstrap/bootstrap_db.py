"""The catalog server's one-off bootstrap (the stack's `bootstrap` ECS task), before `jackfruit db upgrade`.

What the RDS API cannot do, done with the master user's secret: jackfruit's role and database, Dagster's own
role and database (never the catalog's), and the extensions the catalog needs (postgis, btree_gist). Idempotent:
a re-run creates nothing twice and sets each role's password to the current secret (so a changed secret reaches
the database by running this task again). Nothing secret is printed.

Environment (ECS injects the secrets): POSTGRES_HOST, POSTGRES_PORT, PGADMIN_USER, PGADMIN_PASSWORD (the
master secret), POSTGRES_DB, POSTGRES_USER, POSTGRES_PASSWORD (jackfruit's), DAGSTER_POSTGRES_DB,
DAGSTER_POSTGRES_USER, DAGSTER_POSTGRES_PASSWORD, and optionally POSTGRES_SSLMODE, POSTGRES_SSLROOTCERT.
"""

from __future__ import annotations

import os
import sys

import psycopg
from psycopg import sql

EXTENSIONS = ("postgis", "btree_gist")


def _connect(dbname: str) -> psycopg.Connection:
    tls = {k: v for k, v in (("sslmode", os.environ.get("POSTGRES_SSLMODE")),
                             ("sslrootcert", os.environ.get("POSTGRES_SSLROOTCERT"))) if v}
    return psycopg.connect(host=os.environ["POSTGRES_HOST"], port=int(os.environ.get("POSTGRES_PORT", "5432")),
                           user=os.environ["PGADMIN_USER"], password=os.environ["PGADMIN_PASSWORD"], dbname=dbname,
                           autocommit=True, connect_timeout=15, application_name="jackfruit bootstrap", **tls)


def _role(conn: psycopg.Connection, name: str, password: str) -> str:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(sql.SQL(verb + " ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
        sql.Identifier(name), sql.Literal(password)))
    return f"role {name}: {'password set' if exists else 'created'}"


def _database(conn: psycopg.Connection, name: str, owner: str) -> str:
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if not exists:
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(owner)))  # RDS: to name an owner
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    # only its owner (and the master) may connect: Dagster's role never reaches the catalog, nor the reverse
    conn.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
    conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(name),
                                                                                 sql.Identifier(owner)))
    return f"database {name} (owner {owner}): {'exists' if exists else 'created'}"


def bootstrap() -> list[str]:
    env = os.environ
    catalog_db, catalog_user = env.get("POSTGRES_DB", "jackfruit"), env.get("POSTGRES_USER", "jackfruit")
    dagster_db, dagster_user = env.get("DAGSTER_POSTGRES_DB", "dagster"), env.get("DAGSTER_POSTGRES_USER", "dagster")
    if catalog_db == dagster_db or catalog_user == dagster_user:
        raise SystemExit("bootstrap: Dagster needs its own database and role, apart from the catalog's")
    lines = []
    with _connect("postgres") as conn:
        lines.append(_role(conn, catalog_user, env["POSTGRES_PASSWORD"]))
        lines.append(_role(conn, dagster_user, env["DAGSTER_POSTGRES_PASSWORD"]))
        lines.append(_database(conn, catalog_db, catalog_user))
        lines.append(_database(conn, dagster_db, dagster_user))
    with _connect(catalog_db) as conn:
        for ext in EXTENSIONS:
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
        lines.append(f"database {catalog_db}: extensions {', '.join(EXTENSIONS)}")
    return lines


if __name__ == "__main__":
    try:
        for line in bootstrap():
            print(f"bootstrap: {line}")
    except psycopg.Error as err:  # libpq never echoes a password; the message names host and role at most
        print(f"bootstrap: {type(err).__name__}: {' '.join(str(err).split())}", file=sys.stderr)
        sys.exit(1)
