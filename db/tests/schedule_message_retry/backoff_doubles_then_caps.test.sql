-- Backoff delays are initial x multiplier^(attempt-1), capped: 1, 2, 4, 8, then the cap.
begin;
select plan(7);
select wapipe_tests.reset();
update wapipe.settings set value = '10' where key = 'retry.max_attempts';
update wapipe.settings set value = '10' where key = 'retry.max_delay_seconds';
select wapipe_tests.enqueue_text('250700000001', 'hi');
select is(wapipe_tests.fail_n_times(1) - now(), interval '1 second', 'after attempt 1: 1 s');
select is(wapipe_tests.fail_n_times(1) - now(), interval '2 seconds', 'after attempt 2: 2 s');
select is(wapipe_tests.fail_n_times(1) - now(), interval '4 seconds', 'after attempt 3: 4 s');
select is(wapipe_tests.fail_n_times(1) - now(), interval '8 seconds', 'after attempt 4: 8 s');
select is(wapipe_tests.fail_n_times(1) - now(), interval '10 seconds', 'after attempt 5: capped at 10 s');
select row_eq($$ select c.available_at, m.next_attempt_at, q.vt, m.status
                 from wapipe.conversations c join wapipe.processed_messages m on m.id = c.head_message_id
                 join pgmq.q_wapipe_inbound q on q.msg_id = m.queue_msg_id $$,
  row(now() + interval '10 seconds', now() + interval '10 seconds', now() + interval '10 seconds', 'queued'::text),
  'conversation gate, next_attempt_at and pgmq vt agree; the message is queued');
select is((select jsonb_array_length(error_history) from wapipe.processed_messages), 5, 'every failure is in the history');
select * from finish();
rollback;
