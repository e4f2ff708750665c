-- 002_epic3_seed_data: demo and test data for the Epic 3 CRM tables.
--
-- Three organizations (US, GB, AU), four users each, twenty leads each with their status, score,
-- audit and assignment history, DNC entries, nurture sequences and enrollments, source costs,
-- segments, budget ledgers and system configuration.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and as one transaction in the seed loader: no
-- begin/commit, no psql meta-commands. Re-runnable: every row has a fixed id (derived rows use
-- pg_temp.seed_uuid(key), a deterministic v4-shaped uuid) and every insert is
-- `on conflict do nothing`, so a second load changes nothing.
-- Timestamps are explicit UTC values and offsets are in hours (absolute intervals), so the data
-- does not depend on the session's TimeZone.
--
-- Fixed ids (other files reference them):
--   organizations  11111111-1111-4111-8111-111111111111  Summit Talent Partners (US)
--                  22222222-2222-4222-8222-222222222222  Northwind Recruiting (GB)
--                  33333333-3333-4333-8333-333333333333  Southern Cross Staffing (AU)
--   users          a<o>000000-0000-4000-8000-00000000000<n>   n: 1 admin, 2 manager, 3-4 agents
--   leads          b<o>000000-0000-4000-8000-0000000000<nn>   nn 01..20, same shape in every org:
--                  01-03 new, 04-06 contacted, 07-09 qualified, 10-11 nurturing, 12-14 hot,
--                  15 cold, 16 cold and soft-deleted (a duplicate of 04, same phone),
--                  17-18 recruited, 19 dnc (screened at import), 20 dnc (opted out when called)
--   nurture_sequences d<o>000000-0000-4000-8000-00000000000<1|2>  welcome, re-engagement
--   dnc_list       e<o>000000-0000-4000-8000-00000000000<1..3>
--   segments       f<o>000000-0000-4000-8000-00000000000<1..3>
--   system_config  c0000000-... (global defaults), c<o>000000-... (per organization)
-- Phones are valid E.164 numbers (Google libphonenumber): US numbers in New York area codes
-- (no 555-01xx), GB numbers from Ofcom's drama ranges, AU numbers from ACMA's fictitious ranges.
-- DNC: leads 19 and 20 of each organization are on that organization's list; org 1's list also
-- holds the phone of org 2's lead 12 (status hot), which org 2 may still call.

create or replace function pg_temp.seed_uuid(p_key text)
returns uuid
language sql
immutable
as $$
    select overlay(
        overlay(md5('leadflow-seed:' || p_key) placing '4' from 13)
        placing '8' from 17
    )::uuid;
$$;

-- organizations and users ----------------------------------------------------------------------

insert into organizations (id, name, slug, timezone, created_at, updated_at)
values
    ('11111111-1111-4111-8111-111111111111', 'Summit Talent Partners', 'summit',
     'America/New_York', '2026-04-01 13:00:00+00', '2026-04-01 13:00:00+00'),
    ('22222222-2222-4222-8222-222222222222', 'Northwind Recruiting', 'northwind',
     'Europe/London', '2026-04-02 08:00:00+00', '2026-04-02 08:00:00+00'),
    ('33333333-3333-4333-8333-333333333333', 'Southern Cross Staffing', 'southern-cross',
     'Australia/Sydney', '2026-04-02 23:00:00+00', '2026-04-02 23:00:00+00')
on conflict do nothing;

insert into users (
    id, organization_id, email, first_name, last_name, role, is_active, created_at, updated_at
)
values
    ('a1000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111',
     'maya.chen@summit.example.com', 'Maya', 'Chen', 'admin', true,
     '2026-04-01 13:05:00+00', '2026-04-01 13:05:00+00'),
    ('a1000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111',
     'daniel.brooks@summit.example.com', 'Daniel', 'Brooks', 'manager', true,
     '2026-04-01 13:10:00+00', '2026-04-01 13:10:00+00'),
    ('a1000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111',
     'priya.patel@summit.example.com', 'Priya', 'Patel', 'agent', true,
     '2026-04-06 13:00:00+00', '2026-04-06 13:00:00+00'),
    ('a1000000-0000-4000-8000-000000000004', '11111111-1111-4111-8111-111111111111',
     'marcus.reed@summit.example.com', 'Marcus', 'Reed', 'agent', true,
     '2026-04-06 13:30:00+00', '2026-04-06 13:30:00+00'),
    ('a2000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222',
     'olivia.hughes@northwind.example.com', 'Olivia', 'Hughes', 'admin', true,
     '2026-04-02 08:05:00+00', '2026-04-02 08:05:00+00'),
    ('a2000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222',
     'james.whitaker@northwind.example.com', 'James', 'Whitaker', 'manager', true,
     '2026-04-02 08:10:00+00', '2026-04-02 08:10:00+00'),
    ('a2000000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222',
     'amelia.clarke@northwind.example.com', 'Amelia', 'Clarke', 'agent', true,
     '2026-04-07 08:00:00+00', '2026-04-07 08:00:00+00'),
    ('a2000000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222',
     'harry.patel@northwind.example.com', 'Harry', 'Patel', 'agent', true,
     '2026-04-07 08:30:00+00', '2026-04-07 08:30:00+00'),
    ('a3000000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333',
     'charlotte.nguyen@southerncross.example.com', 'Charlotte', 'Nguyen', 'admin', true,
     '2026-04-02 23:05:00+00', '2026-04-02 23:05:00+00'),
    ('a3000000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333',
     'liam.obrien@southerncross.example.com', 'Liam', 'O''Brien', 'manager', true,
     '2026-04-02 23:10:00+00', '2026-04-02 23:10:00+00'),
    ('a3000000-0000-4000-8000-000000000003', '33333333-3333-4333-8333-333333333333',
     'mia.thompson@southerncross.example.com', 'Mia', 'Thompson', 'agent', true,
     '2026-04-07 23:00:00+00', '2026-04-07 23:00:00+00'),
    ('a3000000-0000-4000-8000-000000000004', '33333333-3333-4333-8333-333333333333',
     'jack.wilson@southerncross.example.com', 'Jack', 'Wilson', 'agent', true,
     '2026-04-07 23:30:00+00', '2026-04-07 23:30:00+00')
on conflict do nothing;

-- system_config --------------------------------------------------------------------------------

insert into system_config (id, organization_id, config_key, config_value, description, updated_at)
values
    ('c0000000-0000-4000-8000-000000000001', null, 'default_region', '"US"',
     'Region for parsing phone numbers written without a country code.',
     '2026-04-01 12:00:00+00'),
    ('c0000000-0000-4000-8000-000000000002', null, 'quarantine_rate_warn', '0.05',
     'Share of quarantined rows in an import above which the import check warns.',
     '2026-04-01 12:00:00+00'),
    ('c0000000-0000-4000-8000-000000000003', null, 'assignment_strategy', '"round_robin"',
     'How new leads are distributed among active agents.',
     '2026-04-01 12:00:00+00'),
    ('c0000000-0000-4000-8000-000000000004', null, 'score_weights',
     '{"qualification": 0.3, "engagement": 0.3, "intent": 0.25, "demographic": 0.15}',
     'Weights of the lead score factors; they sum to 1.',
     '2026-04-01 12:00:00+00'),
    ('c1000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111',
     'default_region', '"US"', null, '2026-04-01 13:00:00+00'),
    ('c1000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111',
     'assignment_strategy', '"round_robin"', null, '2026-04-01 13:00:00+00'),
    ('c2000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222',
     'default_region', '"GB"', null, '2026-04-02 08:00:00+00'),
    ('c2000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222',
     'assignment_strategy', '"load_balanced"', null, '2026-04-02 08:00:00+00'),
    ('c3000000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333',
     'default_region', '"AU"', null, '2026-04-02 23:00:00+00'),
    ('c3000000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333',
     'assignment_strategy', '"territory"', null, '2026-04-02 23:00:00+00')
on conflict do nothing;

-- leads ----------------------------------------------------------------------------------------
-- seed_leads describes each lead once; the leads row and its whole history derive from it:
--   path           statuses after the initial 'new', in order (the last one is the lead's status)
--   step_interval  time between consecutive status changes (hours: absolute)
--   intake         'import' or 'manual': trigger_type of the lead's first status row
--   previous_user_id  first owner of a lead that was later reassigned to user_id

drop table if exists pg_temp.seed_leads;
create temp table seed_leads (
    id uuid primary key,
    organization_id uuid not null,
    user_id uuid,
    previous_user_id uuid,
    first_name text not null,
    last_name text not null,
    phone_number text not null,
    email text,
    status text not null,
    lead_score integer not null,
    tags text[] not null,
    source text not null,
    created_at timestamptz not null,
    step_interval interval not null,
    path text[] not null,
    intake text not null,
    deleted_at timestamptz
);

insert into seed_leads (
    id, organization_id, user_id, previous_user_id,
    first_name, last_name, phone_number, email, status, lead_score, tags, source,
    created_at, step_interval, path, intake, deleted_at
)
values
    ('b1000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', null, null,
     'Emily', 'Johnson', '+16462858916', 'emily.johnson@example.net', 'new', 12, '{facebook}', 'facebook',
     '2026-11-12 13:07:00+00', '0 hours', '{}', 'import', null),
    ('b1000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', null, null,
     'Michael', 'Rodriguez', '+16462579894', 'michael.rodriguez@example.org', 'new', 18, '{}', 'website',
     '2026-11-16 13:14:00+00', '0 hours', '{}', 'manual', null),
    ('b1000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000003', null,
     'Sarah', 'Kim', '+17182909516', 'sarah.kim@example.com', 'new', 25, '{warehouse}', 'indeed',
     '2026-11-18 13:21:00+00', '0 hours', '{}', 'import', null),
    ('b1000000-0000-4000-8000-000000000004', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000004', null,
     'David', 'Thompson', '+12122870215', 'david.thompson@example.net', 'contacted', 34, '{referral}', 'referral',
     '2026-10-20 13:28:00+00', '72 hours', '{contacted}', 'manual', null),
    ('b1000000-0000-4000-8000-000000000005', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000003', null,
     'Jessica', 'Martinez', '+17182439024', 'jessica.martinez@example.org', 'contacted', 41, '{linkedin,bilingual}', 'linkedin',
     '2026-10-28 13:35:00+00', '48 hours', '{contacted}', 'import', null),
    ('b1000000-0000-4000-8000-000000000006', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000004', null,
     'Christopher', 'Lee', '+16462347704', null, 'contacted', 28, '{}', 'job_fair',
     '2026-11-03 13:42:00+00', '96 hours', '{contacted}', 'manual', null),
    ('b1000000-0000-4000-8000-000000000007', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000003', 'a1000000-0000-4000-8000-000000000004',
     'Ashley', 'Williams', '+13472807804', 'ashley.williams@example.net', 'qualified', 66, '{cdl,driver}', 'indeed',
     '2026-09-08 13:49:00+00', '120 hours', '{contacted,qualified}', 'import', null),
    ('b1000000-0000-4000-8000-000000000008', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000004', null,
     'Matthew', 'Garcia', '+17182912467', 'matthew.garcia@example.org', 'qualified', 72, '{referral,nurse}', 'referral',
     '2026-09-22 13:56:00+00', '96 hours', '{contacted,qualified}', 'manual', null),
    ('b1000000-0000-4000-8000-000000000009', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000003', null,
     'Amanda', 'Davis', '+16462912484', 'amanda.davis@example.com', 'qualified', 58, '{facebook,night-shift}', 'facebook',
     '2026-10-06 13:03:00+00', '144 hours', '{contacted,qualified}', 'import', null),
    ('b1000000-0000-4000-8000-000000000010', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000004', null,
     'Joshua', 'Wilson', '+13472590248', 'joshua.wilson@example.net', 'nurturing', 47, '{remote}', 'website',
     '2026-08-11 13:10:00+00', '192 hours', '{contacted,nurturing}', 'manual', null),
    ('b1000000-0000-4000-8000-000000000011', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000003', null,
     'Stephanie', 'Anderson', '+12122309684', null, 'nurturing', 39, '{linkedin}', 'linkedin',
     '2026-09-15 13:17:00+00', '168 hours', '{contacted,nurturing}', 'import', null),
    ('b1000000-0000-4000-8000-000000000012', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000004', 'a1000000-0000-4000-8000-000000000003',
     'Andrew', 'Taylor', '+12122480508', 'andrew.taylor@example.com', 'hot', 88, '{hot,executive,linkedin}', 'linkedin',
     '2026-07-07 13:24:00+00', '144 hours', '{contacted,qualified,hot}', 'import', null),
    ('b1000000-0000-4000-8000-000000000013', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000002', null,
     'Nicole', 'Thomas', '+19172709744', 'nicole.thomas@example.net', 'hot', 81, '{hot,referral}', 'referral',
     '2026-07-21 13:31:00+00', '120 hours', '{contacted,qualified,hot}', 'manual', null),
    ('b1000000-0000-4000-8000-000000000014', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000003', null,
     'Ryan', 'Jackson', '+17182646471', 'ryan.jackson@example.org', 'hot', 76, '{hot,veteran}', 'job_fair',
     '2026-08-04 13:38:00+00', '168 hours', '{contacted,qualified,hot}', 'import', null),
    ('b1000000-0000-4000-8000-000000000015', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000004', null,
     'Lauren', 'White', '+13472662197', 'lauren.white@example.com', 'cold', 14, '{facebook}', 'facebook',
     '2026-06-02 13:45:00+00', '336 hours', '{contacted,cold}', 'import', null),
    ('b1000000-0000-4000-8000-000000000016', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000003', null,
     'David', 'Thompson', '+12122870215', 'david.thompson@example.net', 'cold', 9, '{duplicate}', 'indeed',
     '2026-06-16 13:52:00+00', '240 hours', '{contacted,cold}', 'import', '2026-10-21 10:00:00+00'),
    ('b1000000-0000-4000-8000-000000000017', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000002', null,
     'Rachel', 'Clark', '+16462733555', 'rachel.clark@example.org', 'recruited', 97, '{referral,executive}', 'referral',
     '2026-05-05 13:59:00+00', '168 hours', '{contacted,qualified,hot,recruited}', 'manual', null),
    ('b1000000-0000-4000-8000-000000000018', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000004', null,
     'Kevin', 'Lewis', '+19172967146', 'kevin.lewis@example.com', 'recruited', 92, '{linkedin,nurse}', 'linkedin',
     '2026-05-19 13:06:00+00', '192 hours', '{contacted,qualified,hot,recruited}', 'import', null),
    ('b1000000-0000-4000-8000-000000000019', '11111111-1111-4111-8111-111111111111', null, null,
     'Megan', 'Robinson', '+19172638310', null, 'dnc', 0, '{}', 'facebook',
     '2026-06-23 13:13:00+00', '10 minutes', '{dnc}', 'import', null),
    ('b1000000-0000-4000-8000-000000000020', '11111111-1111-4111-8111-111111111111', 'a1000000-0000-4000-8000-000000000003', null,
     'Tyler', 'Walker', '+17182835749', 'tyler.walker@example.org', 'dnc', 5, '{}', 'website',
     '2026-07-14 13:20:00+00', '96 hours', '{contacted,dnc}', 'import', null),
    ('b2000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', null, null,
     'Oliver', 'Smith', '+441214960237', 'oliver.smith@example.net', 'new', 15, '{facebook}', 'facebook',
     '2026-11-12 08:07:00+00', '0 hours', '{}', 'import', null),
    ('b2000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', null, null,
     'Amelia', 'Jones', '+441614960698', 'amelia.jones@example.org', 'new', 15, '{}', 'website',
     '2026-11-16 08:14:00+00', '0 hours', '{}', 'manual', null),
    ('b2000000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000003', null,
     'George', 'Taylor', '+442079460876', 'george.taylor@example.com', 'new', 28, '{warehouse}', 'indeed',
     '2026-11-18 08:21:00+00', '0 hours', '{}', 'import', null),
    ('b2000000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000004', null,
     'Isla', 'Brown', '+441614960620', 'isla.brown@example.net', 'contacted', 31, '{referral}', 'referral',
     '2026-10-20 08:28:00+00', '72 hours', '{contacted}', 'manual', null),
    ('b2000000-0000-4000-8000-000000000005', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000003', null,
     'Noah', 'Williams', '+441214960712', 'noah.williams@example.org', 'contacted', 44, '{linkedin,bilingual}', 'linkedin',
     '2026-10-28 08:35:00+00', '48 hours', '{contacted}', 'import', null),
    ('b2000000-0000-4000-8000-000000000006', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000004', null,
     'Ava', 'Wilson', '+442079460715', null, 'contacted', 25, '{}', 'job_fair',
     '2026-11-03 08:42:00+00', '96 hours', '{contacted}', 'manual', null),
    ('b2000000-0000-4000-8000-000000000007', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000003', 'a2000000-0000-4000-8000-000000000004',
     'Arthur', 'Davies', '+441614960987', 'arthur.davies@example.net', 'qualified', 69, '{cdl,driver}', 'indeed',
     '2026-09-08 08:49:00+00', '120 hours', '{contacted,qualified}', 'import', null),
    ('b2000000-0000-4000-8000-000000000008', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000004', null,
     'Mia', 'Evans', '+441214960926', 'mia.evans@example.org', 'qualified', 69, '{referral,nurse}', 'referral',
     '2026-09-22 08:56:00+00', '96 hours', '{contacted,qualified}', 'manual', null),
    ('b2000000-0000-4000-8000-000000000009', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000003', null,
     'Leo', 'Thomas', '+441214960582', 'leo.thomas@example.com', 'qualified', 61, '{facebook,night-shift}', 'facebook',
     '2026-10-06 08:03:00+00', '144 hours', '{contacted,qualified}', 'import', null),
    ('b2000000-0000-4000-8000-000000000010', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000004', null,
     'Freya', 'Roberts', '+442079460730', 'freya.roberts@example.net', 'nurturing', 44, '{remote}', 'website',
     '2026-08-11 08:10:00+00', '192 hours', '{contacted,nurturing}', 'manual', null),
    ('b2000000-0000-4000-8000-000000000011', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000003', null,
     'Oscar', 'Johnson', '+441214960216', null, 'nurturing', 42, '{linkedin}', 'linkedin',
     '2026-09-15 08:17:00+00', '168 hours', '{contacted,nurturing}', 'import', null),
    ('b2000000-0000-4000-8000-000000000012', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000004', 'a2000000-0000-4000-8000-000000000003',
     'Lily', 'Walker', '+441214960851', 'lily.walker@example.com', 'hot', 85, '{hot,executive,linkedin}', 'linkedin',
     '2026-07-07 08:24:00+00', '144 hours', '{contacted,qualified,hot}', 'import', null),
    ('b2000000-0000-4000-8000-000000000013', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000002', null,
     'Harry', 'Wright', '+441214960273', 'harry.wright@example.net', 'hot', 84, '{hot,referral}', 'referral',
     '2026-07-21 08:31:00+00', '120 hours', '{contacted,qualified,hot}', 'manual', null),
    ('b2000000-0000-4000-8000-000000000014', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000003', null,
     'Grace', 'Robinson', '+441614960127', 'grace.robinson@example.org', 'hot', 73, '{hot,veteran}', 'job_fair',
     '2026-08-04 08:38:00+00', '168 hours', '{contacted,qualified,hot}', 'import', null),
    ('b2000000-0000-4000-8000-000000000015', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000004', null,
     'Jack', 'Thompson', '+442079460493', 'jack.thompson@example.com', 'cold', 17, '{facebook}', 'facebook',
     '2026-06-02 08:45:00+00', '336 hours', '{contacted,cold}', 'import', null),
    ('b2000000-0000-4000-8000-000000000016', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000003', null,
     'Isla', 'Brown', '+441614960620', 'isla.brown@example.net', 'cold', 6, '{duplicate}', 'indeed',
     '2026-06-16 08:52:00+00', '240 hours', '{contacted,cold}', 'import', '2026-10-21 10:00:00+00'),
    ('b2000000-0000-4000-8000-000000000017', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000002', null,
     'Charlie', 'White', '+442079460352', 'charlie.white@example.org', 'recruited', 100, '{referral,executive}', 'referral',
     '2026-05-05 08:59:00+00', '168 hours', '{contacted,qualified,hot,recruited}', 'manual', null),
    ('b2000000-0000-4000-8000-000000000018', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000004', null,
     'Sophie', 'Hughes', '+442079460420', 'sophie.hughes@example.com', 'recruited', 89, '{linkedin,nurse}', 'linkedin',
     '2026-05-19 08:06:00+00', '192 hours', '{contacted,qualified,hot,recruited}', 'import', null),
    ('b2000000-0000-4000-8000-000000000019', '22222222-2222-4222-8222-222222222222', null, null,
     'Alfie', 'Edwards', '+442079460020', null, 'dnc', 0, '{}', 'facebook',
     '2026-06-23 08:13:00+00', '10 minutes', '{dnc}', 'import', null),
    ('b2000000-0000-4000-8000-000000000020', '22222222-2222-4222-8222-222222222222', 'a2000000-0000-4000-8000-000000000003', null,
     'Poppy', 'Green', '+441614960437', 'poppy.green@example.org', 'dnc', 2, '{}', 'website',
     '2026-07-14 08:20:00+00', '96 hours', '{contacted,dnc}', 'import', null),
    ('b3000000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', null, null,
     'Lachlan', 'Smith', '+61255509912', 'lachlan.smith@example.net', 'new', 10, '{facebook}', 'facebook',
     '2026-11-12 23:07:00+00', '0 hours', '{}', 'import', null),
    ('b3000000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333', null, null,
     'Chloe', 'Jones', '+61491576189', 'chloe.jones@example.org', 'new', 20, '{}', 'website',
     '2026-11-16 23:14:00+00', '0 hours', '{}', 'manual', null),
    ('b3000000-0000-4000-8000-000000000003', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000003', null,
     'Cooper', 'Williams', '+61491575422', 'cooper.williams@example.com', 'new', 23, '{warehouse}', 'indeed',
     '2026-11-18 23:21:00+00', '0 hours', '{}', 'import', null),
    ('b3000000-0000-4000-8000-000000000004', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000004', null,
     'Ruby', 'Brown', '+61491578280', 'ruby.brown@example.net', 'contacted', 36, '{referral}', 'referral',
     '2026-10-20 23:28:00+00', '72 hours', '{contacted}', 'manual', null),
    ('b3000000-0000-4000-8000-000000000005', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000003', null,
     'Oliver', 'Wilson', '+61255505073', 'oliver.wilson@example.org', 'contacted', 39, '{linkedin,bilingual}', 'linkedin',
     '2026-10-28 23:35:00+00', '48 hours', '{contacted}', 'import', null),
    ('b3000000-0000-4000-8000-000000000006', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000004', null,
     'Zoe', 'Taylor', '+61255501771', null, 'contacted', 30, '{}', 'job_fair',
     '2026-11-03 23:42:00+00', '96 hours', '{contacted}', 'manual', null),
    ('b3000000-0000-4000-8000-000000000007', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000003', 'a3000000-0000-4000-8000-000000000004',
     'William', 'Anderson', '+61491570514', 'william.anderson@example.net', 'qualified', 64, '{cdl,driver}', 'indeed',
     '2026-09-08 23:49:00+00', '120 hours', '{contacted,qualified}', 'import', null),
    ('b3000000-0000-4000-8000-000000000008', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000004', null,
     'Isabella', 'Martin', '+61255504777', 'isabella.martin@example.org', 'qualified', 74, '{referral,nurse}', 'referral',
     '2026-09-22 23:56:00+00', '96 hours', '{contacted,qualified}', 'manual', null),
    ('b3000000-0000-4000-8000-000000000009', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000003', null,
     'Thomas', 'White', '+61491572559', 'thomas.white@example.com', 'qualified', 56, '{facebook,night-shift}', 'facebook',
     '2026-10-06 23:03:00+00', '144 hours', '{contacted,qualified}', 'import', null),
    ('b3000000-0000-4000-8000-000000000010', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000004', null,
     'Matilda', 'Thompson', '+61491575567', 'matilda.thompson@example.net', 'nurturing', 49, '{remote}', 'website',
     '2026-08-11 23:10:00+00', '192 hours', '{contacted,nurturing}', 'manual', null),
    ('b3000000-0000-4000-8000-000000000011', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000003', null,
     'James', 'Nguyen', '+61270102266', null, 'nurturing', 37, '{linkedin}', 'linkedin',
     '2026-09-15 23:17:00+00', '168 hours', '{contacted,nurturing}', 'import', null),
    ('b3000000-0000-4000-8000-000000000012', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000004', 'a3000000-0000-4000-8000-000000000003',
     'Harper', 'Ryan', '+61270107543', 'harper.ryan@example.com', 'hot', 90, '{hot,executive,linkedin}', 'linkedin',
     '2026-07-07 23:24:00+00', '144 hours', '{contacted,qualified,hot}', 'import', null),
    ('b3000000-0000-4000-8000-000000000013', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000002', null,
     'Henry', 'Kelly', '+61491579759', 'henry.kelly@example.net', 'hot', 79, '{hot,referral}', 'referral',
     '2026-07-21 23:31:00+00', '120 hours', '{contacted,qualified,hot}', 'manual', null),
    ('b3000000-0000-4000-8000-000000000014', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000003', null,
     'Evie', 'Walsh', '+61491571680', 'evie.walsh@example.org', 'hot', 78, '{hot,veteran}', 'job_fair',
     '2026-08-04 23:38:00+00', '168 hours', '{contacted,qualified,hot}', 'import', null),
    ('b3000000-0000-4000-8000-000000000015', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000004', null,
     'Ethan', 'Murphy', '+61491574444', 'ethan.murphy@example.com', 'cold', 12, '{facebook}', 'facebook',
     '2026-06-02 23:45:00+00', '336 hours', '{contacted,cold}', 'import', null),
    ('b3000000-0000-4000-8000-000000000016', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000003', null,
     'Ruby', 'Brown', '+61491578280', 'ruby.brown@example.net', 'cold', 11, '{duplicate}', 'indeed',
     '2026-06-16 23:52:00+00', '240 hours', '{contacted,cold}', 'import', '2026-10-21 10:00:00+00'),
    ('b3000000-0000-4000-8000-000000000017', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000002', null,
     'Archie', 'Campbell', '+61270108538', 'archie.campbell@example.org', 'recruited', 95, '{referral,executive}', 'referral',
     '2026-05-05 23:59:00+00', '168 hours', '{contacted,qualified,hot,recruited}', 'manual', null),
    ('b3000000-0000-4000-8000-000000000018', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000004', null,
     'Sienna', 'O''Connor', '+61270105552', 'sienna.oconnor@example.com', 'recruited', 94, '{linkedin,nurse}', 'linkedin',
     '2026-05-19 23:06:00+00', '192 hours', '{contacted,qualified,hot,recruited}', 'import', null),
    ('b3000000-0000-4000-8000-000000000019', '33333333-3333-4333-8333-333333333333', null, null,
     'Hudson', 'Clarke', '+61255509502', null, 'dnc', 0, '{}', 'facebook',
     '2026-06-23 23:13:00+00', '10 minutes', '{dnc}', 'import', null),
    ('b3000000-0000-4000-8000-000000000020', '33333333-3333-4333-8333-333333333333', 'a3000000-0000-4000-8000-000000000003', null,
     'Willow', 'Mitchell', '+61270106168', 'willow.mitchell@example.org', 'dnc', 7, '{}', 'website',
     '2026-07-14 23:20:00+00', '96 hours', '{contacted,dnc}', 'import', null);

-- Guard against edits that break the history derivation.
do $$
begin
    if exists (
        select 1 from pg_temp.seed_leads
        where status <> coalesce(path[cardinality(path)], 'new')
    ) then
        raise exception 'seed_leads: status must be the last element of path (or new)';
    end if;
end;
$$;

insert into leads (
    id, organization_id, user_id, first_name, last_name, phone_number, email, status, lead_score,
    tags, source, last_contact_date, created_at, updated_at, deleted_at
)
select
    s.id,
    s.organization_id,
    s.user_id,
    s.first_name,
    s.last_name,
    s.phone_number,
    s.email,
    s.status,
    s.lead_score,
    s.tags,
    s.source,
    case
        when 'contacted' = any(s.path) then s.created_at + cardinality(s.path) * s.step_interval
    end,
    s.created_at,
    greatest(s.created_at + cardinality(s.path) * s.step_interval, s.deleted_at),
    s.deleted_at
from pg_temp.seed_leads s
order by s.created_at, s.id
on conflict do nothing;

-- One row per status of each lead's path: k = 0 is the creation (null -> new).
drop table if exists pg_temp.seed_steps;
create temp table seed_steps as
select
    s.id as lead_id,
    s.organization_id,
    s.user_id,
    s.intake,
    k.k,
    cardinality(s.path) as steps,
    case when k.k = 1 then 'new' when k.k > 1 then s.path[k.k - 1] end as from_status,
    case when k.k = 0 then 'new' else s.path[k.k] end as to_status,
    s.created_at + k.k * s.step_interval as changed_at,
    -- Scores climb linearly from the intake score to the lead's current score.
    case
        when cardinality(s.path) = 0 then s.lead_score
        else least(s.lead_score, 10 + s.lead_score / 5)
            + (s.lead_score - least(s.lead_score, 10 + s.lead_score / 5)) * k.k
            / cardinality(s.path)
    end as score
from pg_temp.seed_leads s
cross join lateral generate_series(0, cardinality(s.path)) as k (k);

insert into lead_status_history (
    id, lead_id, from_status, to_status, trigger_type, changed_by, notes, changed_at
)
select
    pg_temp.seed_uuid('status:' || t.lead_id || ':' || t.k),
    t.lead_id,
    t.from_status,
    t.to_status,
    t.trigger_type,
    case when t.trigger_type = 'manual' then t.user_id end,
    case
        when t.to_status = 'dnc' and t.trigger_type = 'dnc'
            then 'Phone matched the organization DNC list at import'
        when t.to_status = 'dnc' then 'Asked not to be contacted again'
        when t.to_status = 'recruited' then 'Accepted offer'
        when t.to_status = 'cold' then 'No response for 14 days'
    end,
    t.changed_at
from (
    select
        st.*,
        case
            when st.k = 0 then st.intake
            when st.to_status = 'dnc' and st.k = 1 then 'dnc'
            when st.to_status = 'nurturing' then 'sequence'
            when st.to_status = 'hot' then 'scoring'
            when st.to_status = 'cold' then 'automation'
            else 'manual'
        end as trigger_type
    from pg_temp.seed_steps st
) as t
order by t.changed_at, t.lead_id
on conflict do nothing;

insert into lead_score_history (id, lead_id, score, factors, calculated_at)
select
    pg_temp.seed_uuid('score:' || st.lead_id || ':' || st.k),
    st.lead_id,
    st.score,
    jsonb_build_object(
        'qualification', st.score * 40 / 100,
        'engagement', st.score * 30 / 100,
        'intent', st.score * 20 / 100,
        'demographic', st.score - st.score * 40 / 100 - st.score * 30 / 100 - st.score * 20 / 100,
        'total', st.score
    ),
    st.changed_at + interval '1 hour'
from pg_temp.seed_steps st
order by st.changed_at, st.lead_id
on conflict do nothing;

-- Assignments: the intake assignment (per the organization's strategy), then, for reassigned
-- leads, a manual move by the organization's manager after the first contact.
drop table if exists pg_temp.seed_assignments;
create temp table seed_assignments as
select
    pg_temp.seed_uuid('assignment:' || s.id || ':1') as id,
    s.id as lead_id,
    null::uuid as from_user_id,
    coalesce(s.previous_user_id, s.user_id) as to_user_id,
    case s.organization_id
        when '11111111-1111-4111-8111-111111111111' then 'round_robin'
        when '22222222-2222-4222-8222-222222222222' then 'load_balanced'
        else 'territory'
    end as strategy,
    'Assigned on intake' as reason,
    null::uuid as assigned_by,
    s.created_at + interval '2 minutes' as assigned_at
from pg_temp.seed_leads s
where coalesce(s.previous_user_id, s.user_id) is not null
union all
select
    pg_temp.seed_uuid('assignment:' || s.id || ':2'),
    s.id,
    s.previous_user_id,
    s.user_id,
    'manual',
    'Rebalanced workload',
    -- the organization's manager, a<o>000000-0000-4000-8000-000000000002
    ('a' || left(s.organization_id::text, 1) || '000000-0000-4000-8000-000000000002')::uuid,
    s.created_at + s.step_interval + interval '1 hour'
from pg_temp.seed_leads s
where s.previous_user_id is not null;

insert into lead_assignments (
    id, lead_id, from_user_id, to_user_id, strategy, reason, assigned_by, assigned_at
)
select id, lead_id, from_user_id, to_user_id, strategy, reason, assigned_by, assigned_at
from pg_temp.seed_assignments
order by assigned_at, lead_id
on conflict do nothing;

-- Audit trail: every status change, every score change and every ownership change.
insert into lead_audit_log (
    id, lead_id, field_name, old_value, new_value, changed_by, change_source, import_batch_id,
    changed_at
)
select id, lead_id, field_name, old_value, new_value, changed_by, change_source, import_batch_id,
    changed_at
from (
    select
        pg_temp.seed_uuid('audit:status:' || h.id) as id,
        h.lead_id,
        'status' as field_name,
        h.from_status::text as old_value,
        h.to_status::text as new_value,
        h.changed_by,
        case when h.trigger_type in ('import', 'dnc', 'scoring') then h.trigger_type::text
            when h.trigger_type in ('sequence', 'automation') then 'automation'
            else 'manual'
        end as change_source,
        -- seeded history predates the import tables: no batch to point at
        null::uuid as import_batch_id,
        h.changed_at
    from lead_status_history h
    join pg_temp.seed_leads l on l.id = h.lead_id
    union all
    select
        pg_temp.seed_uuid('audit:score:' || cur.lead_id || ':' || cur.k),
        cur.lead_id,
        'lead_score',
        prev.score::text,
        cur.score::text,
        null,
        'scoring',
        null,
        cur.changed_at + interval '1 hour'
    from pg_temp.seed_steps cur
    left join pg_temp.seed_steps prev on prev.lead_id = cur.lead_id and prev.k = cur.k - 1
    where prev.score is distinct from cur.score
    union all
    select
        pg_temp.seed_uuid('audit:owner:' || a.id),
        a.lead_id,
        'user_id',
        a.from_user_id::text,
        a.to_user_id::text,
        a.assigned_by,
        'assignment',
        null,
        a.assigned_at
    from pg_temp.seed_assignments a
) as audit
order by changed_at, lead_id, field_name
on conflict do nothing;

-- dnc_list -------------------------------------------------------------------------------------

insert into dnc_list (id, organization_id, phone_number, reason, source, added_by, added_at)
select
    d.id::uuid,
    d.organization_id::uuid,
    coalesce(l.phone_number, d.phone_number),
    d.reason,
    d.source,
    d.added_by::uuid,
    coalesce(d.added_at::timestamptz, l.created_at + l.step_interval * cardinality(l.path))
from (
    values
        -- lead 19 of each organization: on a registry before it was imported
        ('e1000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111',
         'b1000000-0000-4000-8000-000000000019', null, 'Registered on the national DNC registry',
         'national_registry', null, '2026-05-15 12:00:00+00'),
        ('e2000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222',
         'b2000000-0000-4000-8000-000000000019', null, 'Registered with the TPS',
         'national_registry', null, '2026-05-15 09:00:00+00'),
        ('e3000000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333',
         'b3000000-0000-4000-8000-000000000019', null, 'Listed on the Do Not Call Register',
         'national_registry', null, '2026-05-15 00:00:00+00'),
        -- lead 20 of each organization: opted out when called (added when it turned dnc)
        ('e1000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111',
         'b1000000-0000-4000-8000-000000000020', null, 'Asked not to be contacted again',
         'customer_request', 'a1000000-0000-4000-8000-000000000003', null),
        ('e2000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222',
         'b2000000-0000-4000-8000-000000000020', null, 'Asked not to be contacted again',
         'customer_request', 'a2000000-0000-4000-8000-000000000003', null),
        ('e3000000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333',
         'b3000000-0000-4000-8000-000000000020', null, 'Asked not to be contacted again',
         'customer_request', 'a3000000-0000-4000-8000-000000000003', null),
        -- org 1 also blocks the phone of org 2's lead 12, which stays callable for org 2
        ('e1000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111',
         'b2000000-0000-4000-8000-000000000012', null, 'Complaint received by Summit',
         'customer_request', 'a1000000-0000-4000-8000-000000000002', '2026-08-20 15:00:00+00'),
        -- numbers that belong to no lead
        ('e2000000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222',
         null, '+441614960893', 'Former employee, do not recruit', 'manual',
         'a2000000-0000-4000-8000-000000000002', '2026-06-01 09:00:00+00'),
        ('e3000000-0000-4000-8000-000000000003', '33333333-3333-4333-8333-333333333333',
         null, '+61491572183', 'Wrong number reported', 'manual',
         'a3000000-0000-4000-8000-000000000002', '2026-06-01 00:00:00+00')
) as d (id, organization_id, lead_id, phone_number, reason, source, added_by, added_at)
left join pg_temp.seed_leads l on l.id = d.lead_id::uuid
order by d.id
on conflict do nothing;

-- nurture sequences and enrollments ------------------------------------------------------------

insert into nurture_sequences (
    id, organization_id, name, description, steps, active, created_at, updated_at
)
select
    ('d' || o.n || '000000-0000-4000-8000-00000000000' || q.n)::uuid,
    o.id,
    q.name,
    q.description,
    q.steps::jsonb,
    true,
    o.created_at + interval '24 hours',
    o.created_at + interval '24 hours'
from (
    values
        (1, '11111111-1111-4111-8111-111111111111'::uuid, '2026-04-01 13:00:00+00'::timestamptz),
        (2, '22222222-2222-4222-8222-222222222222'::uuid, '2026-04-02 08:00:00+00'::timestamptz),
        (3, '33333333-3333-4333-8333-333333333333'::uuid, '2026-04-02 23:00:00+00'::timestamptz)
) as o (n, id, created_at)
cross join (
    values
        (1, 'New lead welcome', 'Introduces the agency to a new lead over ten days.',
         '[{"step": 1, "delay_days": 0, "channel": "sms", "template_id": "welcome_sms"},
           {"step": 2, "delay_days": 2, "channel": "email", "template_id": "intro_email"},
           {"step": 3, "delay_days": 5, "channel": "call", "template_id": "intro_call"},
           {"step": 4, "delay_days": 10, "channel": "email", "template_id": "check_in_email"}]'),
        (2, 'Cold lead re-engagement', 'Tries to win back leads that went quiet.',
         '[{"step": 1, "delay_days": 0, "channel": "email", "template_id": "reengage_email"},
           {"step": 2, "delay_days": 7, "channel": "sms", "template_id": "reengage_sms"},
           {"step": 3, "delay_days": 14, "channel": "call", "template_id": "reengage_call"}]')
) as q (n, name, description, steps)
order by 1
on conflict do nothing;

-- Same pattern in every organization. delay_days count from enrolled_at; an active enrollment's
-- next step is due at enrolled_at + delay_days of step current_step + 1.
insert into lead_sequence_enrollments (
    id, lead_id, sequence_id, current_step, status, enrolled_at, next_step_scheduled_at,
    completed_at, updated_at
)
select
    pg_temp.seed_uuid('enrollment:' || l.id || ':' || e.sequence_n),
    l.id,
    ('d' || left(l.organization_id::text, 1) || '000000-0000-4000-8000-00000000000'
        || e.sequence_n)::uuid,
    e.current_step,
    e.status,
    l.created_at + e.enrolled_after,
    case
        when e.status = 'active' then
            l.created_at + e.enrolled_after + (
                select (step ->> 'delay_days')::integer * interval '24 hours'
                from jsonb_array_elements(q.steps) as step
                where (step ->> 'step')::integer = e.current_step + 1
            )
    end,
    case when e.status = 'completed' then l.created_at + e.enrolled_after + e.ended_after end,
    l.created_at + e.enrolled_after + coalesce(e.ended_after, interval '0 hours')
from (
    values
        ('04', 1, 1, 'active', interval '744 hours', null::interval),
        ('05', 1, 2, 'active', interval '600 hours', null),
        ('06', 1, 1, 'paused', interval '98 hours', interval '120 hours'),
        ('10', 1, 3, 'active', interval '2350 hours', null),
        ('11', 2, 1, 'active', interval '1560 hours', null),
        ('12', 1, 4, 'completed', interval '2 hours', interval '242 hours'),
        ('15', 2, 2, 'active', interval '3960 hours', null),
        ('16', 1, 1, 'cancelled', interval '2 hours', interval '3034 hours'),
        ('17', 1, 4, 'completed', interval '2 hours', interval '242 hours'),
        ('20', 1, 2, 'exited', interval '2 hours', interval '192 hours')
) as e (lead_nn, sequence_n, current_step, status, enrolled_after, ended_after)
join pg_temp.seed_leads l on right(l.id::text, 2) = e.lead_nn
join nurture_sequences q
    on q.id = ('d' || left(l.organization_id::text, 1) || '000000-0000-4000-8000-00000000000'
        || e.sequence_n)::uuid
order by 6, 2
on conflict do nothing;

-- lead_source_costs: monthly spend of each agent on three paid sources, and the managers' job
-- fairs. Months 2026-05 .. 2026-11; recorded on the first day of the following month.
insert into lead_source_costs (
    id, organization_id, user_id, source, period, cost_usd, created_at, updated_at
)
select
    pg_temp.seed_uuid('cost:' || u.id || ':' || c.source || ':' || to_char(m.month, 'YYYY-MM')),
    u.organization_id,
    u.id,
    c.source,
    to_char(m.month, 'YYYY-MM'),
    c.base_usd + 12.50 * extract(month from m.month) + 7.25 * right(u.id::text, 1)::integer,
    (m.month + interval '1 month') at time zone 'UTC',
    (m.month + interval '1 month') at time zone 'UTC'
from users u
cross join (
    values ('facebook', 180.00), ('linkedin', 240.00), ('indeed', 150.00)
) as c (source, base_usd)
cross join generate_series(
    timestamp '2026-05-01', timestamp '2026-11-01', interval '1 month'
) as m (month)
where u.id in (
    'a1000000-0000-4000-8000-000000000003', 'a1000000-0000-4000-8000-000000000004',
    'a2000000-0000-4000-8000-000000000003', 'a2000000-0000-4000-8000-000000000004',
    'a3000000-0000-4000-8000-000000000003', 'a3000000-0000-4000-8000-000000000004'
)
union all
select
    pg_temp.seed_uuid('cost:' || u.id || ':job_fair:' || p.period),
    u.organization_id,
    u.id,
    'job_fair',
    p.period,
    p.cost_usd,
    p.recorded_at,
    p.recorded_at
from users u
cross join (
    values
        ('2026-06', 850.00, '2026-07-01 00:00:00+00'::timestamptz),
        ('2026-09', 1200.00, '2026-10-01 00:00:00+00'::timestamptz)
) as p (period, cost_usd, recorded_at)
where u.id in (
    'a1000000-0000-4000-8000-000000000002', 'a2000000-0000-4000-8000-000000000002',
    'a3000000-0000-4000-8000-000000000002'
)
order by 1
on conflict do nothing;

-- segments: lead_count is the number of live leads matching the filter when seeded.
insert into segments (
    id, organization_id, user_id, name, description, filter, lead_count, last_counted_at,
    created_at, updated_at
)
select
    ('f' || o.n || '000000-0000-4000-8000-00000000000' || s.n)::uuid,
    o.id,
    case when s.owner_n is not null then
        ('a' || o.n || '000000-0000-4000-8000-00000000000' || s.owner_n)::uuid
    end,
    s.name,
    s.description,
    s.filter::jsonb,
    (
        select count(*)
        from pg_temp.seed_leads l
        where l.organization_id = o.id
          and l.deleted_at is null
          and (not s.filter::jsonb ? 'status'
               or l.status in (select jsonb_array_elements_text(s.filter::jsonb -> 'status')))
          and (not s.filter::jsonb ? 'source'
               or l.source in (select jsonb_array_elements_text(s.filter::jsonb -> 'source')))
          and l.lead_score >= coalesce((s.filter::jsonb #>> '{score,min}')::integer, 0)
          and l.lead_score <= coalesce((s.filter::jsonb #>> '{score,max}')::integer, 100)
    ),
    timestamptz '2026-11-20 06:00:00+00',
    timestamptz '2026-09-01 12:00:00+00',
    timestamptz '2026-11-20 06:00:00+00'
from (
    values
        (1, '11111111-1111-4111-8111-111111111111'::uuid),
        (2, '22222222-2222-4222-8222-222222222222'::uuid),
        (3, '33333333-3333-4333-8333-333333333333'::uuid)
) as o (n, id)
cross join (
    values
        (1, 2, 'Hot prospects', 'Hot or qualified leads scoring 70 or more.',
         '{"status": ["hot", "qualified"], "score": {"min": 70}}'),
        (2, 3, 'Social media leads', 'Leads from Facebook and LinkedIn campaigns.',
         '{"source": ["facebook", "linkedin"]}'),
        (3, null, 'Re-engagement pool', 'Cold or nurturing leads scoring at most 50.',
         '{"status": ["cold", "nurturing"], "score": {"max": 50}}')
) as s (n, owner_n, name, description, filter)
order by 1
on conflict do nothing;

-- budget_transactions: per manager and agent (users 2-4), an initial deposit, a monthly spend, a refund, a
-- top-up and an adjustment, inserted in chronological order: the ledger trigger computes every
-- balance_after_usd (the value given here is overwritten).
insert into budget_transactions (
    id, organization_id, user_id, transaction_type, amount_usd, balance_after_usd, description,
    reference, created_at
)
select
    pg_temp.seed_uuid('budget:' || t.user_id || ':' || t.key),
    t.organization_id,
    t.user_id,
    t.transaction_type,
    t.amount_usd,
    0,
    t.description,
    t.reference,
    t.created_at
from (
    select
        u.id as user_id,
        u.organization_id,
        e.key,
        e.transaction_type,
        e.amount_usd,
        e.description,
        e.reference,
        e.created_at
    from users u
    cross join (
        values
            ('deposit-initial', 'deposit', 1500.00, 'Initial campaign budget', 'PO-2026-0501',
             timestamptz '2026-05-01 09:00:00+00'),
            ('refund-2026-08', 'refund', 40.00, 'Refund: cancelled job board posting',
             'INV-2026-0815', timestamptz '2026-08-15 09:00:00+00'),
            ('deposit-q4', 'deposit', 750.00, 'Q4 top-up', 'PO-2026-0901',
             timestamptz '2026-09-01 09:00:00+00'),
            ('adjustment-2026-10', 'adjustment', -12.50, 'Currency conversion correction',
             null, timestamptz '2026-10-05 09:00:00+00')
    ) as e (key, transaction_type, amount_usd, description, reference, created_at)
    where u.id::text ~ '^a[123]000000-0000-4000-8000-00000000000[234]$'
    union all
    select
        u.id,
        u.organization_id,
        'spend-' || to_char(m.month, 'YYYY-MM'),
        'spend',
        -(150.00 + 25 * right(u.id::text, 1)::integer
            + 10 * (extract(month from m.month)::integer - 5)),
        'Lead ads ' || to_char(m.month, 'YYYY-MM'),
        null,
        (m.month + interval '27 days 18 hours') at time zone 'UTC'
    from users u
    cross join generate_series(
        timestamp '2026-05-01', timestamp '2026-11-01', interval '1 month'
    ) as m (month)
    where u.id::text ~ '^a[123]000000-0000-4000-8000-00000000000[234]$'
) as t
order by t.created_at, t.user_id
on conflict do nothing;

drop table if exists pg_temp.seed_assignments;
drop table if exists pg_temp.seed_steps;
drop table if exists pg_temp.seed_leads;
drop function if exists pg_temp.seed_uuid(text);
