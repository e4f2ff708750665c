-- Entry rules for the seeded nurture sequences (nurture_sequences.entry_filter, added by
-- migrations/005_nurture_and_segments.sql): which live leads each sequence enrolls by itself.
-- Re-runnable: only sets a rule where none has been set yet.
update nurture_sequences
set entry_filter = '{"status": ["new"], "created": {"from": "2026-06-01"}}'::jsonb
where name = 'New lead welcome' and entry_filter is null
  and id in ('d1000000-0000-4000-8000-000000000001', 'd2000000-0000-4000-8000-000000000001',
             'd3000000-0000-4000-8000-000000000001');

update nurture_sequences
set entry_filter = '{"status": ["cold"], "has_email": true}'::jsonb
where name = 'Cold lead re-engagement' and entry_filter is null
  and id in ('d1000000-0000-4000-8000-000000000002', 'd2000000-0000-4000-8000-000000000002',
             'd3000000-0000-4000-8000-000000000002');
