-- Without a session_id, a session idle for less than memory.session_idle_seconds (30 min) is reused.
begin;
select plan(5);
select wapipe_tests.reset();

select * from wapipe.get_or_create_conversation_memory('250700000001', 'support') \gset first_
select isnt(:'first_session_id'::text, null, 'a first call creates a session with a generated id');
select is(:'first_session_id'::text ~ '^[0-9a-f-]{36}$', true, 'the generated session id is a uuid');

update wapipe.ai_conversation_memory set last_activity_at = now() - interval '29 minutes'
 where id = :first_id;
select is((wapipe.get_or_create_conversation_memory('250700000001', 'support')).id, :first_id::bigint,
  'after 29 idle minutes the same session is returned');
select is((select count(*) from wapipe.ai_conversation_memory), 1::bigint, 'no second session was created');
select is((select last_activity_at from wapipe.ai_conversation_memory where id = :first_id),
  now() - interval '29 minutes', 'reading a session is not activity');

select * from finish();
rollback;
