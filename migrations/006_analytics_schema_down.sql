-- Reverts 006_analytics_schema. The marts are derived data: dbt rebuilds them after `up`.
-- The role analyst is dropped only by a role allowed to (a superuser or one with CREATEROLE) and
-- only when no other database still grants it anything.
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'analyst') then
        alter default privileges in schema analytics revoke select on tables from analyst;
    end if;
end
$$;
drop schema if exists analytics cascade;
drop schema if exists analytics_staging cascade;
drop schema if exists analytics_intermediate cascade;

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'analyst')
        or not (select rolsuper or rolcreaterole from pg_roles where rolname = current_user)
    then
        return;
    end if;
    drop owned by analyst;
    begin
        drop role analyst;
    exception when dependent_objects_still_exist then
        raise notice 'role analyst kept: another database still grants it privileges';
    end;
end
$$;
