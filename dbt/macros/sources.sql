{#- Canonical acquisition sources (migration 015, table source_aliases). -#}

{#- The matching key of a source: lower case, runs of other characters than a-z0-9 as one "_",
    trimmed; null when nothing is left. The database function is the one definition (the CLI's
    leadflow/sources.py computes the same in Python). -#}
{% macro source_key(column) -%}
    public.leadflow_source_key({{ column }})
{%- endmacro %}

{#- A lateral join giving `canonical_source` of the most specific alias of a row's source, as
    `{{ alias }}.canonical_source` (null when none matches): the organization's rows before the
    global ones, exact before prefix, the longest prefix first. A prefix row matches the key
    itself or the key followed by "_" and more. -#}
{% macro join_source_alias(aliases, organization_id, key, alias='matched_alias') -%}
    left join lateral (
        select {{ aliases }}.canonical_source
        from {{ aliases }}
        where
            (
                {{ aliases }}.organization_id = {{ organization_id }}
                or {{ aliases }}.organization_id is null
            )
            and (
                {{ aliases }}.alias_key = {{ key }}
                or (
                    {{ aliases }}.match_type = 'prefix'
                    and left({{ key }}, length({{ aliases }}.alias_key) + 1)
                    = {{ aliases }}.alias_key || '_'
                )
            )
        order by
            {{ aliases }}.organization_id is null,
            {{ aliases }}.alias_key <> {{ key }},
            length({{ aliases }}.alias_key) desc
        limit 1
    ) as {{ alias }} on true
{%- endmacro %}
