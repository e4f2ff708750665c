-- Reverts 006_analytics_schema. The marts are derived data: dbt rebuilds them after `up`.
alter default privileges in schema analytics revoke select on tables from analyst;
drop schema if exists analytics cascade;
drop schema if exists analytics_staging cascade;
drop schema if exists analytics_intermediate cascade;
drop owned by analyst;

do $$
begin
    drop role if exists analyst;
exception when dependent_objects_still_exist then
    raise notice 'role analyst kept: another database still grants it privileges';
end
$$;
