-- _release_conversation_lease is _release_conversation_leases of one conversation, and
-- returns the conversation's new head (NULL when it is idle).
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'one', 'wamid.1.1', wa_timestamp => 1764000001);
select wapipe_tests.enqueue_text('250700000001', 'two', 'wamid.1.2', wa_timestamp => 1764000002);
select wapipe_tests.enqueue_text('250700000002', 'one', 'wamid.2.1', wa_timestamp => 1764000001);
select wapipe_tests.claim('worker-1');
update wapipe.processed_messages set status = 'done', processed_at = now() where wamid like 'wamid.%.1';
select is(wapipe._release_conversation_lease(wapipe_tests.conv('250700000001')),
  (select id from wapipe.processed_messages where wamid = 'wamid.1.2'), 'the next message is the new head');
select is(wapipe._release_conversation_lease(wapipe_tests.conv('250700000002')), null::bigint,
  'an idle conversation has no head');
select results_eq(
  $$ select wa_id, locked_by, head_message_id from wapipe.conversations order by wa_id $$,
  $$ values ('250700000001', null::text, (select id from wapipe.processed_messages where wamid = 'wamid.1.2')),
            ('250700000002', null, null) $$,
  'both leases released, heads moved on');
select * from finish();
rollback;
