{#- Generic tests that would otherwise come from dbt_utils (the dbt hub is not reachable). -#}

{#- Every non-null value lies in [min_value, max_value] (either bound may be omitted). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select *
from {{ model }}
where {{ column_name }} is not null
  and (
    false
    {%- if min_value is not none %}
    or {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
    {%- endif %}
    {%- if max_value is not none %}
    or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
    {%- endif %}
  )
{% endtest %}

{#- No two rows share the same values in `combination_of_columns`. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#- Rows where the SQL boolean `expression` is false (or null) fail. -#}
{% test expression_is_true(model, expression, where_clause=none) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{%- if where_clause %}
  and ({{ where_clause }})
{%- endif %}
{% endtest %}

{#- Values in `column_name` are in increasing order within `partition_by`, ordered by
    `order_by`. -#}
{% test strictly_increasing_within(model, column_name, partition_by, order_by) %}
with ordered as (
    select
        {{ column_name }} as value,
        lag({{ column_name }}) over (partition by {{ partition_by }} order by {{ order_by }}) as previous_value
    from {{ model }}
)
select * from ordered where previous_value is not null and value <= previous_value
{% endtest %}
