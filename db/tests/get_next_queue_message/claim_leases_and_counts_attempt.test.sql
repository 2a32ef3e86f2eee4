-- A claim leases the conversation, marks the head processing and counts an attempt.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.a');
create temp table claimed on commit drop as
select * from wapipe.get_next_queue_message('worker-1', 45, 10);
select is((select count(*) from claimed), 1::bigint, 'one message claimed');
select is((select locked_until from claimed), now() + interval '45 seconds', 'lease of lock_seconds');
select row_eq(
  $$ select locked_by, locked_until, locked_at from wapipe.conversations $$,
  row('worker-1'::text, now() + interval '45 seconds', now()),
  'the conversation row carries the lease');
select row_eq(
  $$ select status, attempts, claimed_by, claimed_at from wapipe.processed_messages $$,
  row('processing'::text, 1, 'worker-1'::text, now()),
  'the head is processing, attempt 1, claimed by the worker');
select is((select q.vt from pgmq.q_wapipe_inbound q join claimed c on c.msg_id = q.msg_id),
  now() + interval '45 seconds', 'pgmq vt follows the lease');
select is((select payload->'text'->>'body' from claimed), 'hi', 'the message object is returned');
select * from finish();
rollback;
