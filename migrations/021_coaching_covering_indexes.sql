-- 021_coaching_covering_indexes: int_coaching_user_weeks reads an affected user-week's rows from
-- the indexes alone (index-only scans), not from the heap (issue 21).
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * A user-week's activities are spread over the whole table (loaded in arrival order): read
--   through 020's (user_id, occurred_at) index, each row cost a heap page. 1M leads, 2,181
--   user-weeks (505k activities): 15.5 s; with lead_id in the index and the heap all-visible
--   (VACUUM's visibility map; autovacuum keeps it for all but the newest pages): 2.1 s.
-- * The same for an agent's assignments of a week (to_user_id, assigned_at) INCLUDE (lead_id),
--   and for the first contact after an assignment: (lead_id, occurred_at desc) INCLUDE
--   (direction, activity_type) replaces 004's (lead_id, occurred_at desc), whose readers (the
--   scoring, the recommendation features, the timeline) use the same key.

create index if not exists idx_lead_activities_user_occurred_at_lead
    on lead_activities (user_id, occurred_at) include (lead_id);
drop index if exists idx_lead_activities_user_occurred_at;

create index if not exists idx_lead_assignments_to_user_assigned_at_lead
    on lead_assignments (to_user_id, assigned_at) include (lead_id);
drop index if exists idx_lead_assignments_to_user_assigned_at;

create index if not exists idx_lead_activities_lead_contacts
    on lead_activities (lead_id, occurred_at desc) include (direction, activity_type);
drop index if exists idx_lead_activities_lead_id;
