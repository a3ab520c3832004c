"""Create Neutron's tables from its models (its migrations fail on SQLite).

Usage: python neutron_schema.py DATABASE_URL; then `neutron-db-manage ... stamp heads`.
"""
import sys

import sqlalchemy
from neutron.db.migration.models import head


def main() -> None:
    engine = sqlalchemy.create_engine(sys.argv[1])
    head.get_metadata().create_all(engine)


if __name__ == "__main__":
    main()
