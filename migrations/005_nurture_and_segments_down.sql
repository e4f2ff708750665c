-- Reverts 005_nurture_and_segments. Dropping a table drops its indexes and policies with it.
drop table if exists nurture_touches cascade;
drop table if exists segment_count_history cascade;
alter table if exists nurture_sequences
    drop constraint if exists nurture_sequences_entry_filter_check;
alter table if exists nurture_sequences drop column if exists entry_filter;
