-- Without a session_id, a session idle for more than 30 minutes is not reused: a new one begins.
begin;
select plan(4);
select wapipe_tests.reset();

select * from wapipe.get_or_create_conversation_memory('250700000001', 'support') \gset first_
update wapipe.ai_conversation_memory set last_activity_at = now() - interval '31 minutes'
 where id = :first_id;

select * from wapipe.get_or_create_conversation_memory('250700000001', 'support') \gset second_
select isnt(:second_id::bigint, :first_id::bigint, 'after 31 idle minutes a new session is created');
select isnt(:'second_session_id'::text, :'first_session_id'::text, 'with a new session id');
select is((wapipe.get_or_create_conversation_memory('250700000001', 'support')).id, :second_id::bigint,
  'the new session is the one returned from now on');
select is((select count(*) from wapipe.ai_conversation_memory where id = :first_id), 1::bigint,
  'the old session is kept (cleanup removes it later)');

select * from finish();
rollback;
