-- 016_cost_follows_change: what the nightly needs to do only what changed (issue 21).
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * Every incremental nightly step keeps its position in sync_watermarks, written in the same
--   transaction as the work it covers (leadflow/watermarks.py): a failed or killed step leaves it
--   where it was, and the next run redoes that work.
-- * last_full_at: when the step last did its full pass (a full rebuild, the full graph comparison,
--   a retrain): the weekly full pass is due when it is older than LEADFLOW_NIGHTLY_FULL_EVERY_DAYS.
-- * state: what a step needs beside a time to resume exactly (e.g. the transactions that were
--   still in flight when it read), as JSON; never lead data.

alter table sync_watermarks add column if not exists last_full_at timestamptz;
alter table sync_watermarks add column if not exists state jsonb;

comment on column sync_watermarks.last_full_at is
    'When the step last did its full pass (rebuild, full comparison, retrain).';
comment on column sync_watermarks.state is
    'What the step needs beside a time to resume exactly (e.g. in-flight transactions), as JSON.';
