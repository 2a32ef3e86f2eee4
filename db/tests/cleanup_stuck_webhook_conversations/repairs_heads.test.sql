-- cleanup_stuck_webhook_conversations repairs broken head pointers and orphaned claims.
begin;
select plan(6);
select wapipe_tests.reset();
create temp table m on commit drop as
select wapipe_tests.enqueue_text('250700000001', 'no head') as no_head,
       wapipe_tests.enqueue_text('250700000002', 'finished head') as finished_head,
       wapipe_tests.enqueue_text('250700000002', 'waits behind it', wa_timestamp => 9999999999) as behind,
       wapipe_tests.enqueue_text('250700000003', 'orphaned claim') as orphan,
       wapipe_tests.enqueue_text('250700000004', 'healthy') as healthy;
update wapipe.processed_messages set received_at = now() - interval '10 minutes';
-- break things the way a dead worker or an interrupted path could
update wapipe.conversations set head_message_id = null, head_rank = null
 where conversation_key = wapipe_tests.conv('250700000001');
update wapipe.processed_messages set status = 'done', processed_at = now() - interval '10 minutes'
 where id = (select finished_head from m);
select is_empty($$ select q.from_wa_id from wapipe.get_next_queue_message('probe', 30, 10) q
                   where q.from_wa_id in ('250700000001', '250700000002') $$,
  'broken conversations are not claimable before the repair');
update wapipe.conversations set locked_by = null, locked_until = null where locked_by = 'probe';
update wapipe.processed_messages set status = 'queued', attempts = 0, claimed_by = null where claimed_by = 'probe';
-- a claim whose worker vanished without its lease
update wapipe.processed_messages set status = 'processing', claimed_by = 'ghost', claimed_at = now() - interval '10 minutes'
 where id = (select orphan from m);
select is(wapipe.cleanup_stuck_webhook_conversations('5 minutes'), 1 /* orphan */ + 3 /* heads */, 'rows repaired');
select is((select head_message_id from wapipe.conversations where conversation_key = wapipe_tests.conv('250700000001')),
  (select no_head from m), 'a missing head is restored');
select is((select head_message_id from wapipe.conversations where conversation_key = wapipe_tests.conv('250700000002')),
  (select behind from m), 'a finished head moves on');
select is((select status from wapipe.processed_messages where id = (select orphan from m)), 'queued',
  'an orphaned claim is queued again');
select bag_eq($$ select q.from_wa_id from wapipe.get_next_queue_message('worker-1', 30, 10) q $$,
  $$ values ('250700000001'), ('250700000002'), ('250700000003'), ('250700000004') $$,
  'every conversation is claimable again');
select * from finish();
rollback;
