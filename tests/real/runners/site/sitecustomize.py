"""Loaded by the OpenStack services of the real-cloud tier (PYTHONPATH). With
OCX_REAL_SQLITE_IMMEDIATE=1 (Nova's API, conductor and scheduler) SQLite transactions take
the write lock when they begin.

oslo.db begins SQLite transactions with a plain (deferred) BEGIN: a transaction that reads,
then writes after another connection committed, fails at once with "database is locked"
(SQLite cannot move its snapshot forward; waiting does not help). Nova's conductor, which
writes for every compute service, met this updating a compute node while a service reported
in, and the server being built went to ERROR; the scheduler's reports and the API's server
deletions met it too.
BEGIN IMMEDIATE makes each transaction wait its turn instead (readers are not blocked in WAL
mode). Not for every service: Keystone opens a second transaction while its first is open,
which then waits for itself.
"""
import os


def begin_immediate() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "before_cursor_execute", retval=True)
    def _begin_immediate(conn, cursor, statement, parameters, context, executemany):
        if statement == "BEGIN" and conn.dialect.name == "sqlite":
            return "BEGIN IMMEDIATE", parameters
        return statement, parameters


if os.environ.get("OCX_REAL_SQLITE_IMMEDIATE") == "1":
    begin_immediate()
