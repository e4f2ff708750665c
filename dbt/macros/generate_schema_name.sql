{#- Custom schemas are used as written (analytics, analytics_staging, analytics_intermediate)
    instead of dbt's default "<target schema>_<custom schema>", so analysts see one `analytics`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
