-- 015_source_aliases: one name per acquisition source (issue 20). The same job board or ad
-- channel arrives under many names (`indeed` and `job_board_indeed`, `seek` and `seek_com_au`,
-- `facebook`, `facebook_nurses_q3` and `paid_social`), which split leads from their costs in
-- the ROI mart. source_aliases maps those names to a canonical source, per organization or for
-- every organization; dbt's staging models apply it to leads and costs at every build, so an
-- edited alias applies retroactively and the raw value is kept beside it (`source_raw`).
-- Requires 011_tenancy_and_least_privilege.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * Matching is on a key: lower case, every run of characters other than a-z and 0-9 one "_",
--   trimmed (public.leadflow_source_key; leadflow/sources.py computes the same in Python), so
--   "Job Board – Indeed", "job_board_indeed" and "JOB-BOARD indeed" are one key. A row matches
--   a source whose key equals alias_key (`exact`), or, for a `prefix` row, whose key starts with
--   alias_key followed by "_" (`facebook` prefix: facebook_nurses_q3, not facebookish).
-- * The most specific row wins: the organization's rows before the global ones (organization_id
--   null), then exact before prefix, then the longest prefix. A source no row matches keeps its
--   key as its canonical name.
-- * canonical_source is itself a key (checked), so a canonical name and an unmapped source of the
--   same spelling are one source.
-- * lead_source_costs.source_raw: the source as the cost file wrote it ("Job Board – Indeed");
--   `source` stays the cleaned name the import matches rows on (its unique key). Rows imported
--   before 015 have none (staging reads their source instead).
-- * Tenancy like system_config: a tenant session reads its organization's rows and the global
--   ones; writing is the operator's (`leadflow sources add|remove`, the pipeline role). RLS is
--   forced and the grants applied by leadflow_apply_tenancy() (pipeline: all; application:
--   SELECT). Analysts read the marts only, never this table.

create or replace function public.leadflow_source_key(p_source text) returns text
language sql
immutable
parallel safe
as $$
    select nullif(
        pg_catalog.btrim(
            pg_catalog.regexp_replace(pg_catalog.lower(p_source), '[^a-z0-9]+', '_', 'g'), '_'
        ),
        ''
    )
$$;

comment on function public.leadflow_source_key(text) is
    'Matching key of a lead source: lower case, runs of other characters than a-z0-9 as one "_",'
    ' trimmed; null when nothing is left (source_aliases, dbt staging).';

create table if not exists source_aliases (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid references organizations (id) on delete cascade,
    alias text not null,
    alias_key text generated always as (public.leadflow_source_key(alias)) stored,
    match_type text not null default 'exact',
    canonical_source text not null,
    note text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint source_aliases_alias_key_check check (alias_key is not null),
    constraint source_aliases_match_type_check check (match_type in ('exact', 'prefix')),
    constraint source_aliases_canonical_source_check
        check (canonical_source = public.leadflow_source_key(canonical_source))
);

comment on table source_aliases is
    'Names of one acquisition source: alias -> canonical_source, per organization or global'
    ' (organization_id null). Applied to leads and costs by the dbt staging models (issue 20).';
comment on column source_aliases.organization_id is
    'The organization whose sources this row maps; null for every organization (global).';
comment on column source_aliases.alias is 'The source name as written (any case or punctuation).';
comment on column source_aliases.alias_key is
    'leadflow_source_key(alias): what matching compares.';
comment on column source_aliases.match_type is
    '`exact`: a source whose key is alias_key; `prefix`: also alias_key followed by "_" and more.';
comment on column source_aliases.canonical_source is 'The one name of the source (a key).';
comment on column source_aliases.note is 'Why the alias exists (free text).';

create unique index if not exists idx_source_aliases_org_key
    on source_aliases (organization_id, alias_key) where organization_id is not null;
create unique index if not exists idx_source_aliases_global_key
    on source_aliases (alias_key) where organization_id is null;

drop trigger if exists trigger_source_aliases_updated_at on source_aliases;
create trigger trigger_source_aliases_updated_at
    before update on source_aliases
    for each row execute function set_updated_at();

alter table source_aliases enable row level security;
drop policy if exists tenant_isolation_policy on source_aliases;
create policy tenant_isolation_policy on source_aliases
    for select
    using (
        nullif(current_setting('app.current_tenant_id', true), '') is not null
        and (
            organization_id is null
            or organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
        )
    );

-- global aliases: the common job boards and ad channels -----------------------------------------
insert into source_aliases (organization_id, alias, match_type, canonical_source, note)
values
    (null, 'indeed', 'prefix', 'indeed', 'indeed, indeed_com, indeed_sponsored'),
    (null, 'job board indeed', 'prefix', 'indeed', 'Job Board – Indeed'),
    (null, 'seek', 'prefix', 'seek', 'seek, seek_com_au'),
    (null, 'job board seek', 'prefix', 'seek', null),
    (null, 'linkedin', 'prefix', 'linkedin', 'linkedin, linkedin_ads, linkedin_jobs'),
    (null, 'linked in', 'prefix', 'linkedin', null),
    (null, 'job board linkedin', 'prefix', 'linkedin', null),
    (null, 'facebook', 'prefix', 'facebook', 'campaigns: facebook_nurses_q3, facebook_ads'),
    (null, 'fb', 'prefix', 'facebook', 'fb, fb_lead_ads'),
    (null, 'meta', 'prefix', 'facebook', 'meta, meta_ads'),
    (null, 'paid social', 'exact', 'facebook',
     'Facebook / Meta ads; an organization with other paid social maps it with its own row'),
    (null, 'ziprecruiter', 'prefix', 'ziprecruiter', null),
    (null, 'zip recruiter', 'prefix', 'ziprecruiter', null),
    (null, 'job board ziprecruiter', 'prefix', 'ziprecruiter', null),
    (null, 'glassdoor', 'prefix', 'glassdoor', null),
    (null, 'job board glassdoor', 'prefix', 'glassdoor', null),
    (null, 'monster', 'prefix', 'monster', null),
    (null, 'careerbuilder', 'prefix', 'careerbuilder', null),
    (null, 'career builder', 'prefix', 'careerbuilder', null),
    (null, 'referral', 'prefix', 'referral', 'referral, referral_bonus'),
    (null, 'referrals', 'exact', 'referral', null),
    (null, 'referred', 'exact', 'referral', null),
    (null, 'employee referral', 'exact', 'referral', null),
    (null, 'friend referral', 'exact', 'referral', null),
    (null, 'refer a friend', 'exact', 'referral', null)
on conflict do nothing;

-- the cost file's own spelling ------------------------------------------------------------------
alter table lead_source_costs add column if not exists source_raw text;
comment on column lead_source_costs.source_raw is
    'The source as the cost file wrote it; null for rows imported before migration 015.';

select public.leadflow_apply_tenancy();
