-- 002_epic3_crm_tables: the twelve Epic 3 CRM tables of the Epic 3 schema reference
-- (leads and their history, assignments, DNC list, nurture sequences and enrollments, source
-- costs, segments, budget ledger, system configuration), their indexes, triggers, functions and
-- row-level security. Requires 001_organizations_users (organizations, users, set_updated_at(),
-- pg_trgm).
--
-- Runs unchanged under `psql -v ON_ERROR_STOP=1 -f` and inside the migration runner's own
-- transaction: no begin/commit, no concurrent index builds, no psql meta-commands.
-- Idempotent where PostgreSQL allows it. Targets PostgreSQL >= 14 (no NULLS NOT DISTINCT, no
-- MERGE, no security_invoker views).
--
-- DECISIONS (where the reference is ambiguous or wrong)
-- * uuid_generate_v4() -> core gen_random_uuid(): uuid-ossp/pgcrypto are not available.
-- * The RLS example's tenant_id -> organization_id (tenant = organization). Lead tables read
--   app.current_tenant_id; dnc_list's org_dnc_policy reads app.current_org_id as the reference
--   shows, so an application session sets both. Settings are read as
--   nullif(current_setting(name, true), '')::uuid: unset or reset -> no rows, no error.
--   Policies are ENABLEd, not FORCEd (the pipeline owns the tables), carry USING and WITH CHECK
--   so writes are restricted too, and child tables of leads (audit, status, score, assignments,
--   enrollments) have no organization_id: their policy is `exists (select 1 from leads ...)`, so
--   the leads policy applies inside. An enrollment's WITH CHECK also requires its sequence to
--   be visible, so a tenant cannot enroll its lead in another tenant's sequence.
-- * system_config: organization_id null = global default. Global rows are readable by every
--   session that has a tenant set (global_config_read_policy, select only) but writable only by
--   the owner/pipeline; a session without a tenant sees nothing at all, in every table.
--   Uniqueness uses two partial unique indexes (PostgreSQL 14 has no NULLS NOT DISTINCT).
-- * The reference defines idx_leads_user_id twice (plain and partial). One index per name: the
--   partial one (where deleted_at is null) wins; live leads are what owners look up.
-- * `create unique index on dnc_list(phone_number)` -> unique (organization_id, phone_number)
--   (ARCHITECTURE.md): one organization's list must neither reveal nor block another's.
-- * Leads: one live lead per (phone_number, organization_id) through the reference's partial
--   unique index idx_leads_phone_unique; soft-deleted rows (deleted_at not null) do not count.
-- * Phone numbers are E.164 everywhere: named CHECK `^\+[1-9][0-9]{1,14}$` on
--   leads.phone_number and dnc_list.phone_number.
-- * leads.first_name/last_name are not null default '' so the reference's trigram expression
--   (first_name || ' ' || last_name) is never null; lead_score not null default 0 (0..100);
--   tags not null default '{}'; status not null default 'new' with the reference's enum.
-- * The reference's leads.lead_score_factors JSONB lives in lead_score_history.factors (a JSON
--   object {qualification, engagement, intent, demographic, total}), not on leads.
-- * nurture_sequences.steps: the diagram says JSONB[]; it is one jsonb array (the reference's
--   own example), checked with jsonb_typeof(steps) = 'array'.
-- * Enrollments: at most one live (active or paused) enrollment per (lead, sequence), a partial
--   unique index; completed/cancelled/exited enrollments are history and may repeat.
-- * lead_source_costs: user_id is NOT NULL (it is part of the natural key
--   unique (user_id, source, period), and the reference's ROI query joins on it); period is
--   char(7) 'YYYY-MM' with a month-validating CHECK.
-- * lead_audit_log.import_batch_id has no foreign key yet: the import tables arrive in a later
--   migration, which should add it. change_source is free text ('import', 'manual', 'scoring',
--   ...), deliberately unconstrained.
-- * The reference's leads trigger is kept verbatim by name (update_leads_updated_at(),
--   trigger_leads_updated_at); every other table with updated_at uses 001's set_updated_at().
-- * Foreign keys to users from history/audit columns (changed_by, assigned_by, added_by,
--   from_user_id, to_user_id) are ON DELETE SET NULL: history outlives the people in it.
--   lead_assignments.to_user_id is nullable only because of that.
-- * Beyond the reference's indexes: an index led by every organization_id and lead_id foreign
--   key (cascading deletes, per-tenant scans), idx_leads_org_status, sequence_id, to_user_id,
--   (lead_id, <time> desc) on the history tables for timelines, changed_at for the funnel.
--   Set-null foreign keys to users from history columns are left unindexed: deleting a user
--   is rare and may scan.
-- * is_on_dnc_list(p_phone, p_org) is SECURITY DEFINER with a pinned search_path so that DNC
--   screening works for roles that cannot read dnc_list; execute is granted to public.
--
-- BUDGET LEDGER RULE (budget_transactions)
-- * The ledger is per user_id and append-only. amount_usd is signed by transaction_type:
--   deposit and refund > 0, spend < 0, adjustment any non-zero amount (CHECK).
-- * balance_after_usd is ALWAYS computed by the BEFORE INSERT trigger
--   budget_transactions_apply_balance(): any supplied value is overwritten. The trigger takes
--   pg_advisory_xact_lock on the user, reads the user's latest row (by seq) and stores
--   previous balance + amount_usd. It then (re)assigns seq from the identity sequence while
--   holding the lock, so seq order is the order in which balances were chained, even when
--   concurrent transactions drew their default seq values in another order.
-- * organization_id must equal the user's organization (checked by the same trigger).
-- * The trigger function is SECURITY DEFINER (pinned search_path): the chain is computed from
--   all of the user's rows whatever the caller's RLS visibility, and callers need no privilege
--   on the identity sequence. The row is still subject to the caller's RLS WITH CHECK.
-- * Inserts must run under READ COMMITTED (the default) or SERIALIZABLE (where concurrent
--   inserts for one user may fail with a serialization error and must be retried); REPEATABLE
--   READ is refused because its snapshot could not see a concurrent, just-committed row after
--   the lock is granted. seq has gaps (the identity default is drawn and then replaced).
-- * UPDATE and DELETE raise: corrections are new 'adjustment' rows. The only deletes allowed
--   are the cascades from deleting the owning user or organization. TRUNCATE (an owner-only
--   maintenance operation) is not blocked.
-- * budget_balance(p_user_id) returns the current balance (0 without rows). It is a function,
--   not a view: on PostgreSQL 14 views run with their owner's rights and would bypass RLS.

-- leads ----------------------------------------------------------------------------------------

create table if not exists leads (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references organizations (id) on delete cascade,
    user_id uuid references users (id) on delete set null,
    first_name text not null default '',
    last_name text not null default '',
    phone_number varchar(20) not null,
    email text,
    status varchar(20) not null default 'new',
    lead_score integer not null default 0,
    tags text[] not null default '{}',
    source text,
    last_contact_date timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    constraint leads_status_check check (
        status in ('new', 'contacted', 'qualified', 'nurturing', 'hot', 'cold', 'recruited', 'dnc')
    ),
    constraint leads_lead_score_check check (lead_score >= 0 and lead_score <= 100),
    constraint leads_phone_number_e164_check check (phone_number ~ '^\+[1-9][0-9]{1,14}$')
);

comment on table leads is
    'Recruiting leads, one live row per (phone_number, organization_id); soft-deleted via deleted_at.';
comment on column leads.user_id is 'Owning user (agent); null when unassigned or the owner was deleted.';
comment on column leads.phone_number is 'E.164, e.g. +12125551234.';
comment on column leads.status is
    'Funnel stage: new, contacted, qualified, nurturing, hot, cold, recruited, dnc.';
comment on column leads.lead_score is 'Latest score 0..100; its history is in lead_score_history.';
comment on column leads.tags is 'Free-form labels; GIN-indexed for && (any) and @> (all).';
comment on column leads.source is 'Acquisition channel (facebook, linkedin, indeed, referral, ...).';
comment on column leads.last_contact_date is 'Last time the lead was reached by any channel.';
comment on column leads.deleted_at is
    'Soft delete: set rows are hidden from the live set and free their phone for a new lead.';

-- Leading organization_id serves the foreign key and per-tenant status filters.
create index if not exists idx_leads_org_status on leads (organization_id, status);
-- The reference lists idx_leads_user_id twice; the partial definition wins.
create index if not exists idx_leads_user_id on leads (user_id) where deleted_at is null;
create index if not exists idx_leads_status on leads (status);
create index if not exists idx_leads_lead_score on leads (lead_score desc);
create index if not exists idx_leads_phone_number on leads (phone_number);
create index if not exists idx_leads_tags on leads using gin (tags);
create index if not exists idx_leads_search_name on leads
    using gin ((first_name || ' ' || last_name) gin_trgm_ops);
create unique index if not exists idx_leads_phone_unique
    on leads (phone_number, organization_id)
    where deleted_at is null;

create or replace function update_leads_updated_at()
returns trigger
language plpgsql
as $$
begin
    new.updated_at = now();
    return new;
end;
$$;

create or replace trigger trigger_leads_updated_at
    before update on leads
    for each row
    execute function update_leads_updated_at();

-- lead_audit_log -------------------------------------------------------------------------------

create table if not exists lead_audit_log (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid not null references leads (id) on delete cascade,
    field_name text not null,
    old_value text,
    new_value text,
    changed_by uuid references users (id) on delete set null,
    change_source text,
    import_batch_id uuid,
    changed_at timestamptz not null default now()
);

comment on table lead_audit_log is 'Field-level audit trail of lead changes (Story 3.1).';
comment on column lead_audit_log.old_value is 'Previous value rendered as text; null when unset.';
comment on column lead_audit_log.changed_by is 'Acting user; null for pipeline/system changes.';
comment on column lead_audit_log.change_source is
    'What made the change: import, manual, scoring, assignment, dnc, ... (free text).';
comment on column lead_audit_log.import_batch_id is
    'Import batch that made the change; the foreign key arrives with the import tables.';

create index if not exists idx_lead_audit_log_lead_id on lead_audit_log (lead_id, changed_at desc);
create index if not exists idx_lead_audit_log_import_batch_id on lead_audit_log (import_batch_id)
    where import_batch_id is not null;

-- lead_status_history --------------------------------------------------------------------------

create table if not exists lead_status_history (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid not null references leads (id) on delete cascade,
    from_status varchar(20),
    to_status varchar(20) not null,
    trigger_type varchar(30) not null,
    changed_by uuid references users (id) on delete set null,
    notes text,
    changed_at timestamptz not null default now(),
    constraint lead_status_history_from_status_check check (
        from_status is null
        or from_status in (
            'new', 'contacted', 'qualified', 'nurturing', 'hot', 'cold', 'recruited', 'dnc'
        )
    ),
    constraint lead_status_history_to_status_check check (
        to_status in ('new', 'contacted', 'qualified', 'nurturing', 'hot', 'cold', 'recruited', 'dnc')
    ),
    constraint lead_status_history_trigger_type_check check (
        trigger_type in (
            'manual', 'import', 'automation', 'sequence', 'dnc', 'scoring', 'assignment', 'system'
        )
    )
);

comment on table lead_status_history is 'Status transitions of leads, for funnel analytics (Story 3.9).';
comment on column lead_status_history.from_status is 'Null for the first row of a lead (creation).';
comment on column lead_status_history.trigger_type is
    'What caused the transition: manual, import, automation, sequence, dnc, scoring, assignment, system.';

create index if not exists idx_lead_status_history_lead_id
    on lead_status_history (lead_id, changed_at desc);
create index if not exists idx_lead_status_history_changed_at on lead_status_history (changed_at);

-- lead_score_history ---------------------------------------------------------------------------

create table if not exists lead_score_history (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid not null references leads (id) on delete cascade,
    score integer not null,
    factors jsonb not null default '{}',
    calculated_at timestamptz not null default now(),
    constraint lead_score_history_score_check check (score >= 0 and score <= 100),
    constraint lead_score_history_factors_check check (jsonb_typeof(factors) = 'object')
);

comment on table lead_score_history is 'Every score computed for a lead (Story 3.7).';
comment on column lead_score_history.factors is
    'JSON object of score components: {qualification, engagement, intent, demographic, total}.';

create index if not exists idx_lead_score_history_lead_id
    on lead_score_history (lead_id, calculated_at desc);

-- lead_assignments -----------------------------------------------------------------------------

create table if not exists lead_assignments (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid not null references leads (id) on delete cascade,
    from_user_id uuid references users (id) on delete set null,
    to_user_id uuid references users (id) on delete set null,
    strategy varchar(30) not null,
    reason text,
    assigned_by uuid references users (id) on delete set null,
    assigned_at timestamptz not null default now(),
    constraint lead_assignments_strategy_check check (
        strategy in ('manual', 'round_robin', 'load_balanced', 'weighted', 'territory', 'import')
    )
);

comment on table lead_assignments is 'Ownership changes of leads (Story 3.3).';
comment on column lead_assignments.from_user_id is 'Previous owner; null for a first assignment.';
comment on column lead_assignments.to_user_id is
    'New owner. Always set on insert; null only after that user was deleted (on delete set null).';
comment on column lead_assignments.strategy is
    'manual, round_robin, load_balanced, weighted, territory or import.';
comment on column lead_assignments.assigned_by is 'Acting user; null for automatic assignment.';

create index if not exists idx_lead_assignments_lead_id
    on lead_assignments (lead_id, assigned_at desc);
create index if not exists idx_lead_assignments_to_user_id on lead_assignments (to_user_id);

-- dnc_list -------------------------------------------------------------------------------------

create table if not exists dnc_list (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references organizations (id) on delete cascade,
    phone_number varchar(20) not null,
    reason text,
    source text,
    added_by uuid references users (id) on delete set null,
    added_at timestamptz not null default now(),
    constraint dnc_list_phone_number_e164_check check (phone_number ~ '^\+[1-9][0-9]{1,14}$'),
    constraint dnc_list_org_phone_key unique (organization_id, phone_number)
);

comment on table dnc_list is
    'Do-not-contact numbers, per organization (Story 3.8). RLS reads app.current_org_id.';
comment on column dnc_list.phone_number is 'E.164; unique within the organization.';
comment on column dnc_list.source is 'Where the entry came from (customer_request, registry, ...).';

-- nurture_sequences ----------------------------------------------------------------------------

create table if not exists nurture_sequences (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references organizations (id) on delete cascade,
    name text not null,
    description text,
    steps jsonb not null default '[]',
    active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint nurture_sequences_steps_check check (jsonb_typeof(steps) = 'array'),
    constraint nurture_sequences_org_name_key unique (organization_id, name)
);

comment on table nurture_sequences is 'Nurture sequence definitions (Story 3.5).';
comment on column nurture_sequences.steps is
    'JSON array of steps: [{"step": 1, "delay_days": 0, "channel": "sms", "template_id": "..."}].';
comment on column nurture_sequences.active is 'Inactive sequences accept no new enrollments.';

create or replace trigger trigger_nurture_sequences_updated_at
    before update on nurture_sequences
    for each row
    execute function set_updated_at();

-- lead_sequence_enrollments --------------------------------------------------------------------

create table if not exists lead_sequence_enrollments (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid not null references leads (id) on delete cascade,
    sequence_id uuid not null references nurture_sequences (id) on delete cascade,
    current_step integer not null default 0,
    status varchar(20) not null default 'active',
    enrolled_at timestamptz not null default now(),
    next_step_scheduled_at timestamptz,
    completed_at timestamptz,
    updated_at timestamptz not null default now(),
    constraint lead_sequence_enrollments_current_step_check check (current_step >= 0),
    constraint lead_sequence_enrollments_status_check check (
        status in ('active', 'paused', 'completed', 'cancelled', 'exited')
    )
);

comment on table lead_sequence_enrollments is 'Progress of leads through nurture sequences (Story 3.5).';
comment on column lead_sequence_enrollments.current_step is
    'Last step sent (0 = none yet); matches steps[].step of the sequence.';
comment on column lead_sequence_enrollments.status is
    'active, paused, completed, cancelled or exited (e.g. the lead went DNC).';
comment on column lead_sequence_enrollments.next_step_scheduled_at is
    'When the next step is due; only meaningful while active.';

create index if not exists idx_enrollments_next_step on lead_sequence_enrollments (next_step_scheduled_at)
    where status = 'active';
create unique index if not exists idx_enrollments_live_unique
    on lead_sequence_enrollments (lead_id, sequence_id)
    where status in ('active', 'paused');
create index if not exists idx_enrollments_lead_id on lead_sequence_enrollments (lead_id);
create index if not exists idx_enrollments_sequence_id on lead_sequence_enrollments (sequence_id);

create or replace trigger trigger_lead_sequence_enrollments_updated_at
    before update on lead_sequence_enrollments
    for each row
    execute function set_updated_at();

-- lead_source_costs ----------------------------------------------------------------------------

create table if not exists lead_source_costs (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references organizations (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    source text not null,
    period char(7) not null,
    cost_usd numeric(10, 2) not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint lead_source_costs_period_check check (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    constraint lead_source_costs_cost_usd_check check (cost_usd >= 0),
    constraint lead_source_costs_user_source_period_key unique (user_id, source, period)
);

comment on table lead_source_costs is
    'Spend per user, source and month for ROI (Story 3.14). Aggregate before joining to leads.';
comment on column lead_source_costs.period is 'Calendar month, YYYY-MM.';
comment on column lead_source_costs.cost_usd is 'Non-negative spend in USD for the whole month.';

create index if not exists idx_lead_source_costs_org_period
    on lead_source_costs (organization_id, period);

create or replace trigger trigger_lead_source_costs_updated_at
    before update on lead_source_costs
    for each row
    execute function set_updated_at();

-- segments -------------------------------------------------------------------------------------

create table if not exists segments (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references organizations (id) on delete cascade,
    user_id uuid references users (id) on delete set null,
    name text not null,
    description text,
    filter jsonb not null default '{}',
    lead_count integer not null default 0,
    last_counted_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint segments_filter_check check (jsonb_typeof(filter) = 'object'),
    constraint segments_lead_count_check check (lead_count >= 0)
);

comment on table segments is 'Saved lead filters and their cached sizes (Story 3.11).';
comment on column segments.user_id is 'Creator; null for organization-wide segments.';
comment on column segments.filter is
    'JSON object, e.g. {"status": ["hot", "qualified"], "score": {"min": 70}}.';
comment on column segments.lead_count is 'Live leads matching filter at last_counted_at.';

create index if not exists idx_segments_organization_id on segments (organization_id);
create index if not exists idx_segments_user_id on segments (user_id);

create or replace trigger trigger_segments_updated_at
    before update on segments
    for each row
    execute function set_updated_at();

-- budget_transactions --------------------------------------------------------------------------

create table if not exists budget_transactions (
    id uuid primary key default gen_random_uuid(),
    seq bigint generated always as identity,
    organization_id uuid not null references organizations (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    transaction_type varchar(20) not null,
    amount_usd numeric(12, 2) not null,
    balance_after_usd numeric(12, 2) not null,
    description text,
    reference text,
    created_at timestamptz not null default now(),
    constraint budget_transactions_transaction_type_check check (
        transaction_type in ('deposit', 'spend', 'refund', 'adjustment')
    ),
    constraint budget_transactions_amount_sign_check check (
        (transaction_type in ('deposit', 'refund') and amount_usd > 0)
        or (transaction_type = 'spend' and amount_usd < 0)
        or (transaction_type = 'adjustment' and amount_usd <> 0)
    )
);

comment on table budget_transactions is
    'Append-only per-user budget ledger; balances are computed by a trigger, corrections are adjustments.';
comment on column budget_transactions.seq is
    'Ledger order per user, assigned under the user''s advisory lock; balances chain in seq order.';
comment on column budget_transactions.amount_usd is
    'Signed: deposit/refund > 0, spend < 0, adjustment any non-zero amount.';
comment on column budget_transactions.balance_after_usd is
    'User''s balance after this row; always computed on insert (supplied values are overwritten).';
comment on column budget_transactions.reference is 'External reference (invoice, campaign, ...).';

create unique index if not exists idx_budget_transactions_user_seq
    on budget_transactions (user_id, seq);
create index if not exists idx_budget_transactions_org_created_at
    on budget_transactions (organization_id, created_at);

create or replace function budget_transactions_apply_balance()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_user_org uuid;
    v_previous numeric(12, 2);
begin
    if current_setting('transaction_isolation') = 'repeatable read' then
        raise exception 'budget_transactions inserts need read committed or serializable isolation'
            using errcode = 'object_not_in_prerequisite_state',
                  hint = 'The balance chain must see rows committed while waiting for the lock.';
    end if;

    -- A missing user is left to the foreign key; a user of another organization is refused.
    select u.organization_id into v_user_org from users u where u.id = new.user_id;
    if v_user_org <> new.organization_id then
        raise exception 'budget_transactions.organization_id % is not the organization of user %',
            new.organization_id, new.user_id
            using errcode = 'foreign_key_violation';
    end if;

    -- Serialize the user's ledger; released at commit or rollback.
    perform pg_advisory_xact_lock(hashtextextended('budget_transactions:' || new.user_id::text, 0));

    select bt.balance_after_usd into v_previous
    from budget_transactions bt
    where bt.user_id = new.user_id
    order by bt.seq desc
    limit 1;

    new.seq := nextval(pg_get_serial_sequence('budget_transactions', 'seq'));
    new.balance_after_usd := coalesce(v_previous, 0) + new.amount_usd;
    return new;
end;
$$;

comment on function budget_transactions_apply_balance() is
    'BEFORE INSERT (security definer): locks the user''s ledger, assigns seq, computes the balance.';

create or replace function budget_transactions_append_only()
returns trigger
language plpgsql
as $$
begin
    if tg_op = 'DELETE'
        and (
            not exists (select 1 from users u where u.id = old.user_id)
            or not exists (select 1 from organizations o where o.id = old.organization_id)
        )
    then
        -- Cascade from deleting the owning user or organization.
        return old;
    end if;
    raise exception 'budget_transactions is append-only: % is not allowed', lower(tg_op)
        using errcode = 'restrict_violation',
              hint = 'Record a correction as a new adjustment transaction.';
end;
$$;

comment on function budget_transactions_append_only() is
    'BEFORE UPDATE/DELETE: rejects changes to the ledger except cascades from its user/organization.';

create or replace trigger trigger_budget_transactions_balance
    before insert on budget_transactions
    for each row
    execute function budget_transactions_apply_balance();

create or replace trigger trigger_budget_transactions_append_only
    before update or delete on budget_transactions
    for each row
    execute function budget_transactions_append_only();

create or replace function budget_balance(p_user_id uuid)
returns numeric
language sql
stable
as $$
    select coalesce(
        (
            select bt.balance_after_usd
            from budget_transactions bt
            where bt.user_id = p_user_id
            order by bt.seq desc
            limit 1
        ),
        0
    );
$$;

comment on function budget_balance(uuid) is
    'Current budget balance of a user in USD (0 without transactions); subject to RLS.';

-- system_config --------------------------------------------------------------------------------

create table if not exists system_config (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid references organizations (id) on delete cascade,
    config_key text not null,
    config_value jsonb not null,
    description text,
    updated_at timestamptz not null default now()
);

comment on table system_config is
    'Settings: organization_id null = global default, overridden per organization.';
comment on column system_config.organization_id is 'Null for the global default of config_key.';
comment on column system_config.config_value is 'Any JSON value (string, number, object, ...).';

create unique index if not exists idx_system_config_org_key_unique
    on system_config (organization_id, config_key)
    where organization_id is not null;
create unique index if not exists idx_system_config_global_key_unique
    on system_config (config_key)
    where organization_id is null;

create or replace trigger trigger_system_config_updated_at
    before update on system_config
    for each row
    execute function set_updated_at();

-- DNC lookup -----------------------------------------------------------------------------------

create or replace function is_on_dnc_list(p_phone text, p_org uuid)
returns boolean
language sql
stable
security definer
set search_path = public, pg_temp
as $$
    select exists (
        select 1
        from public.dnc_list d
        where d.organization_id = p_org
          and d.phone_number = p_phone
    );
$$;

comment on function is_on_dnc_list(text, uuid) is
    'True iff the organization''s DNC list holds the E.164 phone. SECURITY DEFINER: bypasses RLS.';

grant execute on function is_on_dnc_list(text, uuid) to public;

-- row-level security ---------------------------------------------------------------------------

-- Tables carrying organization_id.
alter table leads enable row level security;
drop policy if exists tenant_isolation_policy on leads;
create policy tenant_isolation_policy on leads
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (
        organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
    );

alter table nurture_sequences enable row level security;
drop policy if exists tenant_isolation_policy on nurture_sequences;
create policy tenant_isolation_policy on nurture_sequences
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (
        organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
    );

alter table lead_source_costs enable row level security;
drop policy if exists tenant_isolation_policy on lead_source_costs;
create policy tenant_isolation_policy on lead_source_costs
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (
        organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
    );

alter table segments enable row level security;
drop policy if exists tenant_isolation_policy on segments;
create policy tenant_isolation_policy on segments
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (
        organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
    );

alter table budget_transactions enable row level security;
drop policy if exists tenant_isolation_policy on budget_transactions;
create policy tenant_isolation_policy on budget_transactions
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (
        organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
    );

alter table system_config enable row level security;
drop policy if exists tenant_isolation_policy on system_config;
create policy tenant_isolation_policy on system_config
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (
        organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
    );
drop policy if exists global_config_read_policy on system_config;
create policy global_config_read_policy on system_config
    for select
    using (
        organization_id is null
        and nullif(current_setting('app.current_tenant_id', true), '') is not null
    );

-- The DNC list reads app.current_org_id, as in the reference.
alter table dnc_list enable row level security;
drop policy if exists org_dnc_policy on dnc_list;
create policy org_dnc_policy on dnc_list
    using (organization_id = nullif(current_setting('app.current_org_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_org_id', true), '')::uuid);

-- Children of leads: visible and writable iff their lead is (the leads policy applies inside).
alter table lead_audit_log enable row level security;
drop policy if exists tenant_isolation_policy on lead_audit_log;
create policy tenant_isolation_policy on lead_audit_log
    using (exists (select 1 from leads l where l.id = lead_audit_log.lead_id))
    with check (exists (select 1 from leads l where l.id = lead_audit_log.lead_id));

alter table lead_status_history enable row level security;
drop policy if exists tenant_isolation_policy on lead_status_history;
create policy tenant_isolation_policy on lead_status_history
    using (exists (select 1 from leads l where l.id = lead_status_history.lead_id))
    with check (exists (select 1 from leads l where l.id = lead_status_history.lead_id));

alter table lead_score_history enable row level security;
drop policy if exists tenant_isolation_policy on lead_score_history;
create policy tenant_isolation_policy on lead_score_history
    using (exists (select 1 from leads l where l.id = lead_score_history.lead_id))
    with check (exists (select 1 from leads l where l.id = lead_score_history.lead_id));

alter table lead_assignments enable row level security;
drop policy if exists tenant_isolation_policy on lead_assignments;
create policy tenant_isolation_policy on lead_assignments
    using (exists (select 1 from leads l where l.id = lead_assignments.lead_id))
    with check (exists (select 1 from leads l where l.id = lead_assignments.lead_id));

alter table lead_sequence_enrollments enable row level security;
drop policy if exists tenant_isolation_policy on lead_sequence_enrollments;
create policy tenant_isolation_policy on lead_sequence_enrollments
    using (exists (select 1 from leads l where l.id = lead_sequence_enrollments.lead_id))
    with check (
        exists (select 1 from leads l where l.id = lead_sequence_enrollments.lead_id)
        and exists (
            select 1 from nurture_sequences s where s.id = lead_sequence_enrollments.sequence_id
        )
    );
