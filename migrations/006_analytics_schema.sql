-- 006_analytics_schema: where the dbt project writes, and the read-only `analyst` role.
-- Requires nothing but a database; dbt (dbt/) fills the schemas.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * Three schemas: `analytics` (marts, the tables analysts query), `analytics_staging` and
--   `analytics_intermediate` (dbt's views; implementation detail). dbt's generate_schema_name
--   macro uses these names as written.
-- * `analyst` is a NOLOGIN group role: grant it to the people or BI service accounts that log in
--   (`grant analyst to alice;`). It may use schema `analytics` and select its tables, nothing else:
--   no grant on the CRM tables (so RLS never has to decide for it), none on the staging and
--   intermediate schemas. dbt grants select on every mart it builds (`+grants` in
--   dbt_project.yml); the default privileges below cover tables created by hand as the owner.
-- * Roles are cluster-wide: the role is created only when missing, and the down migration drops
--   it only when no other database still grants it anything.
-- * AMENDED after it shipped (the runner accepts the shipped file's checksum too, see
--   leadflow/platform/migrations.py): a deploying role that may not create roles (a managed
--   PostgreSQL's database owner without CREATEROLE) skips the role and its grants with a notice
--   instead of failing here. 011 replaces this role's all-tenant read of the marts anyway.

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'analyst') then
        if (select rolsuper or rolcreaterole from pg_roles where rolname = current_user) then
            create role analyst nologin noinherit;
        else
            raise notice 'leadflow: role analyst not created (% may not create roles); '
                'per-tenant analysts are granted with `leadflow db grant-analyst`', current_user;
        end if;
    end if;
end
$$;

create schema if not exists analytics;
create schema if not exists analytics_staging;
create schema if not exists analytics_intermediate;

comment on schema analytics is
    'dbt marts for analysts (lead_funnel, source_roi, lead_score_trends, agent_coaching, ...).';
comment on schema analytics_staging is 'dbt staging views over the CRM tables (internal).';
comment on schema analytics_intermediate is 'dbt intermediate models (internal).';

revoke all on schema analytics_staging from public;
revoke all on schema analytics_intermediate from public;
revoke create on schema analytics from public;

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'analyst') then
        grant usage on schema analytics to analyst;
        grant select on all tables in schema analytics to analyst;
        alter default privileges in schema analytics grant select on tables to analyst;
    end if;
end
$$;
