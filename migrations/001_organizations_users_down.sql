-- 001_organizations_users (down): reverts 001_organizations_users.sql, in reverse order.
-- Dropping the tables drops their triggers, policies and indexes with them.
-- The pg_trgm extension is deliberately left installed (see the DECISIONS in the up file):
-- it is database-wide, may be shared or predate this project, and re-running the up file's
-- `create extension if not exists` is a no-op, so up -> down -> up yields the same catalog.

drop table if exists users cascade;
drop table if exists organizations cascade;
drop function if exists set_updated_at() cascade;
