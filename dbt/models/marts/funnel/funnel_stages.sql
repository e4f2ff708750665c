{#- The funnel stages in order, one row each, straight from var funnel_stages (dbt_project.yml),
    the one definition lead_funnel, its tests and `leadflow report` follow: analysts sort or label
    stages by joining here instead of copying the order. cold and dnc are exits, not stages. -#}
{%- set stages = var('funnel_stages') %}

with stages as (
    select
        stage::text as stage,
        stage_order::integer as stage_order
    from (
        values
        {%- for stage in stages %}
        ('{{ stage }}', {{ loop.index }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as stage_list (stage, stage_order)
)

select * from stages
