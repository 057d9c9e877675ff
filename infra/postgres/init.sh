#!/usr/bin/env bash
# Runs once, when the Postgres container starts on an empty data directory (the image runs every
# script in /docker-entrypoint-initdb.d). It gives each service a database of its own, owned by
# a role of its own that may connect to nothing else: a service can only reach another
# service's data through that service's API or events, never through the database.
#
# Passwords come from the environment (compose passes them in, with demo defaults).
set -euo pipefail

# create_database NAME PASSWORD: a login role NAME that owns database NAME.
create_database() {
  # psql variables (:"name" for identifiers, :'password' for literals) quote the values safely;
  # they are interpolated in SQL read from stdin, not in -c commands.
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v name="$1" -v password="$2" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
  echo "init: created database and role $1"
}

create_database users "${USERS_DB_PASSWORD:?USERS_DB_PASSWORD is not set}"
create_database products "${PRODUCTS_DB_PASSWORD:?PRODUCTS_DB_PASSWORD is not set}"
create_database orders "${ORDERS_DB_PASSWORD:?ORDERS_DB_PASSWORD is not set}"
