{#- Segment sizes over time: one row per count taken by the segment_counts asset, with the
    previous count of the same segment and the change since, counted_date in the organization's
    timezone, and is_latest on each segment's most recent count. Incremental per segment
    (segment_sizes_affected_keys): a segment with a new count, or whose row or organization
    changed, is rebuilt whole; a deleted count needs a --full-refresh. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        indexes=[
            {'columns': ['segment_size_key'], 'unique': true},
            {'columns': ['segment_id']},
        ],
        pre_hook="{{ leadflow_replace_keys(segment_sizes_affected_keys(), 'affected_key',
            'segment_id::text') }}",
        post_hook="{{ leadflow_advance_watermark() }}",
    )
}}

with counts as (
    select * from {{ ref('stg_crm__segment_count_history') }}
    {%- if is_incremental() %}
    where segment_id in (select affected.segment_id from segment_sizes__affected as affected)
    {%- endif %}
),

segments as (
    select * from {{ ref('stg_crm__segments') }}
),

organizations as (
    select * from {{ ref('stg_crm__organizations') }}
),

sequenced as (
    select
        counts.segment_id,
        counts.organization_id,
        segments.segment_name,
        counts.counted_at,
        cast(
            {{ local_time('counts.counted_at', 'organizations.organization_timezone') }} as date
        ) as counted_date,
        counts.lead_count,
        lag(counts.lead_count) over segment_counts as previous_lead_count,
        row_number() over (
            partition by counts.segment_id order by counts.counted_at desc
        ) = 1 as is_latest,
        organizations.organization_name
    from counts
    inner join segments on counts.segment_id = segments.segment_id
    inner join organizations on counts.organization_id = organizations.organization_id
    window segment_counts as (partition by counts.segment_id order by counts.counted_at)
)

select
    md5(
        segment_id::text
        || '|'
        || to_char(counted_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
    ) as segment_size_key,
    segment_id,
    organization_id,
    segment_name,
    counted_at,
    counted_date,
    lead_count,
    previous_lead_count,
    lead_count - previous_lead_count as change_from_previous,
    is_latest,
    organization_name
from sequenced
