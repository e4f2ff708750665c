-- 020_incremental_nightly_indexes: what the nightly's incremental steps write and read in
-- proportion to a day's changes (issue 21): int_coaching_user_weeks reads per affected user-week,
-- and the recommendation ranking rewrites the agent_rank of the entries a changed lead moves.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * Coaching is rebuilt per user-week, not per organization-week. A day of CRM work deletes or
--   restores a few leads with a year of history each: keyed by organization-week, those touched
--   nearly every week of agent_coaching (1M leads after 2%: 2,227 of ~2,600, rebuilt in 57 s,
--   slower than the 17 s of a whole build); keyed by user-week, 1,179 of 13,235, in 7 s.
--   - lead_assignments (to_user_id, assigned_at) replaces (to_user_id): the same prefix for the
--     users foreign key, and an agent's assignments of one week as one range;
--   - lead_activities (user_id, occurred_at): an agent's activities of one week;
--   - lead_status_history (changed_at) where to_status = 'recruited': the conversions of a week
--     without reading its other status rows (about 1 in 60 rows is a conversion).
-- * lead_recommendations: agent_rank is an agent's list position, so one changed lead moves
--   every entry below it; a 1% day moves ~90% of the ranks (1M leads: 866k of 945k). The agent
--   index no longer holds agent_rank (nothing reads it in that order: the served lists rank on
--   read) and pages are kept 60% full, so those updates are HOT (no index entry written): 907k
--   rank updates 15.8 s before, 7.4 s at 70% full. A page gets the free space when it is next
--   written (the next full ranking rewrites every row).

create index if not exists idx_lead_assignments_to_user_assigned_at
    on lead_assignments (to_user_id, assigned_at);
drop index if exists idx_lead_assignments_to_user_id;
create index if not exists idx_lead_activities_user_occurred_at
    on lead_activities (user_id, occurred_at);
create index if not exists idx_lead_status_history_recruited_at
    on lead_status_history (changed_at) where to_status = 'recruited';

alter table lead_recommendations set (fillfactor = 60);
drop index if exists idx_lead_recommendations_agent;
create index idx_lead_recommendations_agent on lead_recommendations (organization_id, user_id);
