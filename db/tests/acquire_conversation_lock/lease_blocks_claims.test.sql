-- A conversation lock is the claim lease: claims skip the conversation until released or expired.
begin;
select plan(7);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi');
select ok(wapipe.acquire_conversation_lock(wapipe_tests.conv('250700000001'), 'flow-1', 60), 'lock taken');
select ok(wapipe.acquire_conversation_lock(wapipe_tests.conv('250700000001'), 'flow-1', 600), 'the holder extends it');
select is((select locked_until from wapipe.conversations), now() + interval '600 seconds', 'ttl extended');
select ok(not wapipe.acquire_conversation_lock(wapipe_tests.conv('250700000001'), 'flow-2'), 'refused to another');
select is_empty($$ select * from wapipe.get_next_queue_message('worker-1', 30, 10) $$, 'claims skip it');
select ok(wapipe.release_conversation_lock(wapipe_tests.conv('250700000001'), 'flow-1'), 'released by the holder');
select isnt_empty($$ select * from wapipe.get_next_queue_message('worker-1', 30, 10) $$, 'claimable again');
select * from finish();
rollback;
