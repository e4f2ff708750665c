-- Reverts 015_source_aliases: the alias table (operator-added rows with it) and its key function.
-- The dbt staging models of 015 read them: build the marts of the code before 015 after this.

drop table if exists source_aliases;
drop function if exists public.leadflow_source_key(text);
