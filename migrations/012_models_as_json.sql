-- 012_models_as_json: a stored propensity model is data, never code (issue 18, tenant
-- isolation). Requires 010_lead_recommendations.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * lead_conversion_models.model (the joblib-pickled scikit-learn pipeline the nightly step
--   unpickled) is dropped. Unpickling runs whatever the bytes say; a row of this table was
--   writable under its organization's policy, so a tenant (or anyone able to write one row)
--   could run code inside the pipeline worker, which holds every tenant's secrets.
-- * Existing pickles are not trusted, so they are not converted either (converting means
--   unpickling them): their rows keep their metrics and lose their model. The next nightly
--   retrains every organization (lead_conversion_model runs before lead_recommendations in
--   the job); until then a row without parameters ranks by the rule score, as a flagged one does.
-- * model_parameters jsonb: the fitted logistic regression as numbers (the scaler's mean and
--   scale, the one-hot categories with the infrequent bucket, coefficients, intercept, feature
--   names; format and checks in leadflow/recommend/served.py). The reader validates it strictly
--   and runs no code whatever it holds; the constraint here only keeps it an object of at most
--   1 MB (MAX_DOCUMENT_BYTES).
-- * Tenants read their models' metrics and never write a model: tenant_isolation_policy (all
--   commands) is replaced by tenant_read_policy (select only). With no policy for insert, update
--   or delete, a role under row-level security writes nothing here; the pipeline writes as the
--   table owner, with BYPASSRLS, or through its own policy (pipeline_access, migration 011),
--   which this migration leaves alone.

alter table lead_conversion_models drop column if exists model;
alter table lead_conversion_models add column if not exists model_parameters jsonb
    constraint lead_conversion_models_model_parameters_check check (
        jsonb_typeof(model_parameters) = 'object'
        and octet_length(model_parameters::text) <= 1000000
    );
comment on column lead_conversion_models.model_parameters is
    'The served model as JSON numbers (leadflow/recommend/served.py); null: no model to serve.';

drop policy if exists tenant_isolation_policy on lead_conversion_models;
drop policy if exists tenant_read_policy on lead_conversion_models;
create policy tenant_read_policy on lead_conversion_models
    for select
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
