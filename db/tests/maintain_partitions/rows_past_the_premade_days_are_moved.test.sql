-- Rows that overran the partitions made ahead (default partition) are moved into their own day,
-- where pg_partman alone fails ("updated partition constraint for default partition would be violated").
begin;
select plan(6);
select wapipe_tests.reset();
insert into pgmq.a_wapipe_inbound (msg_id, vt, message, archived_at)
values (1, now(), '{}', now() + interval '12 days');
insert into wapipe.service_calls (service, ok, duration_ms, called_at)
values ('agent-x', true, 5, now() + interval '12 days');
select is((select tableoid::regclass::text from pgmq.a_wapipe_inbound),
  'pgmq.a_wapipe_inbound_default', 'an archive row 12 days ahead first lands in the default partition');
select throws_ok($$ select partman.run_maintenance('pgmq.a_wapipe_inbound', p_jobmon => false) $$,
  null, null, 'pg_partman''s own maintenance fails on it');
select lives_ok($$ select wapipe.maintain_partitions() $$, 'maintain_partitions does not');
select is((select tableoid::regclass::text from pgmq.a_wapipe_inbound),
  'pgmq.a_wapipe_inbound_p' || to_char(now() + interval '12 days', 'YYYY_MM_DD'),
  'the archive row is in its own day now');
select is((select tableoid::regclass::text from wapipe.service_calls),
  'wapipe.service_calls_p' || to_char(now() + interval '12 days', 'YYYY_MM_DD'),
  'so is the service call');
select is_empty($$ select 1 from pgmq.a_wapipe_inbound_default union all select 1 from wapipe.service_calls_default $$,
  'the default partitions are empty');
select * from finish();
rollback;
