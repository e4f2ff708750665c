-- 010_lead_recommendations: who to contact next, how and why (schema story 3.4, "AI
-- recommendations (cached in Redis)"). Requires 002_epic3_crm_tables.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * lead_conversion_models: one row per trained model of an organization, versioned (version
--   counts up per organization). The fitted scikit-learn pipeline is stored as bytes
--   (joblib) beside its feature list, holdout metrics and the rule-based baseline's metrics,
--   so any process on any host scores with the same model and a request never retrains.
--   beats_baseline false (or no model, too little history) -> recommendations rank by the
--   rule-based lead_score instead.
-- * lead_recommendations: the durable copy of the latest recommendations, one row per lead
--   (next action, channel, hour, reasons, propensity, rank in its agent's list). Redis holds
--   the cache; when Redis is down or a key is missing, reads come from here, joined with the
--   lead's current state (never a DNC or recruited lead, never another agent's).
-- * recommendation_cache_state: per organization, up to when lead changes have been
--   invalidated in the cache (leads.updated_at / dnc_list.added_at watermark).
-- * RLS (tenant_isolation_policy on organization_id) on all three.

create table if not exists lead_conversion_models (
    id               uuid primary key default gen_random_uuid(),
    organization_id  uuid not null references organizations (id) on delete cascade,
    version          integer not null check (version >= 1),
    trained_at       timestamptz not null default now(),
    as_of            timestamptz not null,
    algorithm        text not null,
    horizon_days     integer not null check (horizon_days > 0),
    feature_names    jsonb not null default '[]'::jsonb,
    metrics          jsonb not null default '{}'::jsonb,
    baseline         jsonb not null default '{}'::jsonb,
    beats_baseline   boolean not null default false,
    status           varchar(20) not null
        constraint lead_conversion_models_status_check
        check (status in ('active', 'flagged', 'insufficient_data')),
    model            bytea,
    constraint lead_conversion_models_org_version_key unique (organization_id, version)
);
comment on table lead_conversion_models is
    'Versioned conversion-propensity models per organization, with holdout metrics beside the rule-based lead_score baseline.';
comment on column lead_conversion_models.status is
    'active: beats the baseline and ranks recommendations; flagged: does not (the rule score ranks); insufficient_data: no model.';

create table if not exists lead_recommendations (
    lead_id          uuid primary key references leads (id) on delete cascade,
    organization_id  uuid not null references organizations (id) on delete cascade,
    user_id          uuid references users (id) on delete set null,
    model_version    integer,
    ranked_by        varchar(10) not null
        constraint lead_recommendations_ranked_by_check check (ranked_by in ('model', 'rule')),
    propensity       double precision not null check (propensity >= 0 and propensity <= 1),
    rule_score       integer not null,
    agent_rank       integer,
    action           varchar(20) not null
        constraint lead_recommendations_action_check
        check (action in ('call', 'sms', 'email', 'nurture', 're_engage', 'close_cold')),
    channel          varchar(10)
        constraint lead_recommendations_channel_check check (channel in ('call', 'sms', 'email')),
    best_hour        smallint check (best_hour between 0 and 23),
    reasons          jsonb not null default '[]'::jsonb,
    computed_at      timestamptz not null default now()
);
comment on table lead_recommendations is
    'Latest next-best-action per lead (the durable copy of the Redis cache).';
create index if not exists idx_lead_recommendations_agent
    on lead_recommendations (organization_id, user_id, agent_rank);

create table if not exists recommendation_cache_state (
    organization_id    uuid primary key references organizations (id) on delete cascade,
    invalidated_until  timestamptz not null,
    updated_at         timestamptz not null default now()
);
comment on table recommendation_cache_state is
    'Per organization: lead changes up to this time have been invalidated in the recommendation cache.';

do $$
declare
    t text;
begin
    foreach t in array array['lead_conversion_models', 'lead_recommendations',
                             'recommendation_cache_state']
    loop
        execute format('alter table %I enable row level security', t);
        execute format('drop policy if exists tenant_isolation_policy on %I', t);
        execute format(
            'create policy tenant_isolation_policy on %I'
            ' using (organization_id = nullif(current_setting(''app.current_tenant_id'', true), '''')::uuid)'
            ' with check (organization_id = nullif(current_setting(''app.current_tenant_id'', true), '''')::uuid)',
            t);
    end loop;
end
$$;
