"""Times in the tables are UTC on every backend, aware on the way out."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from ocx.store.schema import UTCDateTime

NOON_IN_PARIS = dt.datetime(2030, 6, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def test_sqlite_gets_naive_utc_and_gives_back_aware_utc():
    column, dialect = UTCDateTime(), sqlite.dialect()

    stored = column.process_bind_param(NOON_IN_PARIS, dialect)

    assert stored == dt.datetime(2030, 6, 1, 12, 0) and stored.tzinfo is None
    assert column.process_result_value(stored, dialect) == NOON_IN_PARIS
    assert column.process_result_value(stored, dialect).tzinfo is dt.UTC


def test_postgresql_keeps_the_time_zone():
    column, dialect = UTCDateTime(), postgresql.dialect()

    stored = column.process_bind_param(NOON_IN_PARIS, dialect)

    assert stored.tzinfo is dt.UTC and stored == NOON_IN_PARIS
    assert column.process_result_value(NOON_IN_PARIS, dialect).tzinfo is dt.UTC


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(dt.datetime(2030, 6, 1), sqlite.dialect())
    assert UTCDateTime().process_bind_param(None, sqlite.dialect()) is None
