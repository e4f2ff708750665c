-- Reverts 012_models_as_json: tenants may write their organization's model rows again
-- (010's tenant_isolation_policy) and the bytes column comes back empty: JSON parameters are
-- not turned into pickles; the next nightly retrains.
drop policy if exists tenant_read_policy on lead_conversion_models;
drop policy if exists tenant_isolation_policy on lead_conversion_models;
create policy tenant_isolation_policy on lead_conversion_models
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

alter table lead_conversion_models drop column if exists model_parameters;
alter table lead_conversion_models add column if not exists model bytea;
