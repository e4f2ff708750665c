-- Reverts 015_source_aliases: the alias table (operator-added rows with it), its key function and
-- lead_source_costs.source_raw.
-- The dbt staging models of 015 read them: build the marts of the code before 015 after this.

alter table lead_source_costs drop column if exists source_raw;
drop table if exists source_aliases;
drop function if exists public.leadflow_source_key(text);
