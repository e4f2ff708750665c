{#- Shared SQL fragments for the marts. -#}

{#- Position of a funnel stage (1..6); null for the exits `cold` and `dnc`. -#}
{% macro funnel_stage_rank(status_column) -%}
    case {{ status_column }}
    {%- for stage in var('funnel_stages') %}
        when '{{ stage }}' then {{ loop.index }}
    {%- endfor %}
    end
{%- endmacro %}

{#- a / b as numeric, null when b is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    ({{ numerator }})::numeric / nullif(({{ denominator }})::numeric, 0)
{%- endmacro %}

{#- A timestamptz as local time of the organization's IANA timezone (column of
    stg_crm__organizations). -#}
{% macro local_time(ts_column, tz_column='organization_timezone') -%}
    ({{ ts_column }} at time zone {{ tz_column }})
{%- endmacro %}
