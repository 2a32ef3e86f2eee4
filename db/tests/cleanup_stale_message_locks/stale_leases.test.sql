-- cleanup_stale_message_locks clears leases expired long ago and puts their heads back in the queue.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'dead worker');
select wapipe_tests.enqueue_text('250700000002', 'slow but alive');
select wapipe_tests.enqueue_text('250700000003', 'recently expired');
select wapipe_tests.claim('worker-1');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000001'), '10 minutes');
select wapipe_tests.expire_lease(wapipe_tests.conv('250700000003'), '1 minute');
select is(wapipe.cleanup_stale_message_locks('5 minutes'), 1, 'one stale lease cleared');
select row_eq($$ select c.locked_by, m.status, m.attempts, q.vt <= now()
                 from wapipe.conversations c join wapipe.processed_messages m on m.id = c.head_message_id
                 join pgmq.q_wapipe_inbound q on q.msg_id = m.queue_msg_id
                 where c.conversation_key = '300100200300400:250700000001' $$,
  row(null::text, 'queued'::text, 1, true), 'lease cleared, head queued and visible, the lost attempt counted');
select is((select count(*) from wapipe.conversations where locked_by = 'worker-1'), 2::bigint,
  'live and recently expired leases are left alone');
select is((select count(*) from wapipe.processed_messages where status = 'processing'), 2::bigint,
  'their messages stay processing');
select results_eq($$ select q.from_wa_id from wapipe.get_next_queue_message('worker-2', 30, 10) q $$,
  $$ values ('250700000001'), ('250700000003') $$, 'the released and the expired one are claimable');
select * from finish();
rollback;
