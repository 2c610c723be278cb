-- Least privilege for gql_app on PostgreSQL: an owner that runs the migrations, and an
-- application role that may only read and write rows.
--
-- Run once, as a superuser:   psql -v ON_ERROR_STOP=1 -f docs/roles.sql postgres
-- then give both roles passwords (psql: \password gql_owner, \password gql_app) and set
--   MIGRATION_DATABASE_URL=postgresql://gql_owner:...@host/gql_app   (gql-app migrate)
--   DATABASE_URL=postgresql://gql_app:...@host/gql_app               (gql-app serve)

-- The owner: owns the database and its schema, creates and alters every table.
CREATE ROLE gql_owner LOGIN;
-- The application: rows only. No DDL, no TRUNCATE, no temporary tables.
CREATE ROLE gql_app LOGIN;

CREATE DATABASE gql_app OWNER gql_owner;
REVOKE ALL ON DATABASE gql_app FROM PUBLIC;
GRANT CONNECT ON DATABASE gql_app TO gql_app;

\connect gql_app

-- Only the owner creates objects (before PostgreSQL 15, PUBLIC could create in `public`).
ALTER SCHEMA public OWNER TO gql_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO gql_app;

-- The rows of every table and sequence there now (none on a new database) ...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO gql_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO gql_app;
-- ... and of every one the owner's migrations create later.
ALTER DEFAULT PRIVILEGES FOR ROLE gql_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gql_app;
ALTER DEFAULT PRIVILEGES FOR ROLE gql_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO gql_app;
