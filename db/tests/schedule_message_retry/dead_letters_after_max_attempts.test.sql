-- After retry.max_attempts failures the message is in the dead letters with its errors.
begin;
select plan(6);
select wapipe_tests.reset();
-- Setup
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.dies');
-- Test
select is(wapipe_tests.fail_n_times(3, error => '131000: agent down'), null::timestamptz,
  'the third failure returns NULL');
select is((select count(*) from wapipe.dead_letters), 1::bigint, 'moved to DLQ after 3 attempts');
select row_eq($$ select wamid, attempts, error_code, last_error, jsonb_array_length(error_history)
                 from wapipe.dead_letters $$,
  row('wamid.dies'::text, 3, '131000'::text, '131000: agent down #3'::text, 3),
  'the dead letter has the attempts, the parsed code, the last error and the history');
select is((select status from wapipe.processed_messages), 'dead', 'the message is dead');
select is_empty($$ select * from pgmq.q_wapipe_inbound $$, 'nothing left in the queue');
select is((select count(*) from pgmq.a_wapipe_inbound), 1::bigint, 'archived in pgmq');
select * from finish();
rollback;
