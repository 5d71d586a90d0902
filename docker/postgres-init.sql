-- Runs once, on the first start of an empty data volume (postgres image's
-- /docker-entrypoint-initdb.d); later edits here do not touch an existing volume.
--
-- One role per consumer so the app cannot touch Temporal's tables and vice versa.
-- The passwords match docker-compose.yml; Postgres is reachable only on the
-- compose network (no published port).

-- Application database: TypeORM migrations run as its owner.
CREATE ROLE ovation LOGIN PASSWORD 'ovation';
CREATE DATABASE ovation OWNER ovation;

-- Temporal's persistence and visibility stores. Created here (the temporal-schema job only
-- sets up their schema) so the temporal role needs no CREATEDB; as owner it can still
-- install the trusted btree_gin extension the visibility schema asks for.
CREATE ROLE temporal LOGIN PASSWORD 'temporal';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
