-- With a session_id: that session, created when missing, returned even when idle for long.
begin;
select plan(5);
select wapipe_tests.reset();

select * from wapipe.get_or_create_conversation_memory('250700000001', 'support', 'ticket-7') \gset s_
select is(:'s_session_id'::text, 'ticket-7', 'a missing session is created with the given id');
select is(:s_message_count, 0, 'it starts empty');

update wapipe.ai_conversation_memory set last_activity_at = now() - interval '3 days' where id = :s_id;
select is((wapipe.get_or_create_conversation_memory('250700000001', 'support', 'ticket-7')).id,
  :s_id::bigint, 'an explicit session is returned however long it was idle');

select isnt((wapipe.get_or_create_conversation_memory('250700000001', 'support', 'ticket-8')).id,
  :s_id::bigint, 'another session id is another session');
select is((select count(*) from wapipe.ai_conversation_memory), 2::bigint, 'two sessions exist');

select * from finish();
rollback;
