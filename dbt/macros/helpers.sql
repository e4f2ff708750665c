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

{#- An assignment's time to its first outbound contact: hours_to_first_contact (null when never
    contacted) and is_contacted_within_24h, from the first contact's and the assignment's times.
    int_lead_first_contacts_joined and int_coaching_user_weeks' incremental probe share it. -#}
{% macro first_contact_figures(first_contact_at, assigned_at) -%}
    extract(epoch from {{ first_contact_at }} - {{ assigned_at }}) / 3600.0
        as hours_to_first_contact,
    coalesce(
        {{ first_contact_at }} <= {{ assigned_at }} + interval '24 hours', false
    ) as is_contacted_within_24h
{%- endmacro %}
