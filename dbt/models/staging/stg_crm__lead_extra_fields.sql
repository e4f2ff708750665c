with source as (
    select * from {{ source('crm', 'leads') }}
),

renamed as (
    select
        md5(source.id::text || ':' || fields.field_name) as lead_extra_field_id,
        source.id as lead_id,
        source.organization_id,
        fields.field_name,
        fields.field_value,
        source.updated_at,
        source.deleted_at is not null as is_deleted
    from source
    cross join lateral jsonb_each_text(source.extra_fields) as fields (field_name, field_value)
)

select * from renamed
