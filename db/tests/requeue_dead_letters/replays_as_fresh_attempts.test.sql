-- A replayed dead letter is a fresh message: attempt 0, new pgmq msg_id, head of its conversation.
begin;
select plan(8);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'a', 'wamid.a');
select wapipe_tests.fail_n_times(3, error => 'agent down');
create temp table old on commit drop as select queue_msg_id from wapipe.processed_messages;
create temp table replayed on commit drop as select * from wapipe.requeue_dead_letters(error_like => 'agent%');
select is((select count(*) from replayed), 1::bigint, 'one dead letter replayed');
select isnt((select msg_id from replayed), (select queue_msg_id from old), 'under a new msg_id');
select row_eq($$ select status, attempts, queue_msg_id, processed_at from wapipe.processed_messages $$,
  row('queued'::text, 0, (select msg_id from replayed), null::timestamptz), 'queued, attempt 0');
select ok((select replayed_at = now() from wapipe.dead_letters), 'the dead letter is marked replayed');
select row_eq($$ select message->>'wamid', headers->>'x-pgmq-group' from pgmq.q_wapipe_inbound $$,
  row('wamid.a'::text, '300100200300400:250700000001'::text), 'sent in the shape ingest uses');
select results_eq($$ select q.wamid, q.attempt from wapipe.get_next_queue_message('worker-1', 30, 10) q $$,
  $$ values ('wamid.a', 1) $$, 'claimable again as attempt 1');
select is_empty($$ select * from wapipe.requeue_dead_letters(error_like => '%', dry_run => true) $$,
  'a replayed dead letter is not chosen again');
select lives_ok($$ select wapipe.complete_message(q.msg_id, 'worker-1', '{"type":"text","text":{"body":"ok"}}')
                   from wapipe.processed_messages p join lateral (select p.queue_msg_id as msg_id) q on true $$,
  'and completes normally');
select * from finish();
rollback;
