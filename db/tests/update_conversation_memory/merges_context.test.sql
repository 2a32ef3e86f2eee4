-- context is merged into the stored context (||), never replaced; NULL leaves it alone.
begin;
select plan(4);
select wapipe_tests.reset();

select (wapipe.get_or_create_conversation_memory('250700000001', 'support')).id as mem_id \gset
update wapipe.ai_conversation_memory set last_activity_at = now() - interval '10 minutes' where id = :mem_id;

select wapipe.update_conversation_memory(:mem_id, 'user', 'my order is 42', '{"order": 42, "lang": "en"}');
select wapipe.update_conversation_memory(:mem_id, 'assistant', 'found it', '{"lang": "fr", "status": "shipped"}');
select is((select context from wapipe.ai_conversation_memory where id = :mem_id),
  '{"order": 42, "lang": "fr", "status": "shipped"}'::jsonb, 'contexts are merged, later keys win');

select wapipe.update_conversation_memory(:mem_id, 'user', 'thanks');
select is((select context from wapipe.ai_conversation_memory where id = :mem_id),
  '{"order": 42, "lang": "fr", "status": "shipped"}'::jsonb, 'no context leaves the stored one as is');
select is((select last_activity_at from wapipe.ai_conversation_memory where id = :mem_id), now(),
  'last_activity_at moves to now');
select is((select message_count from wapipe.ai_conversation_memory where id = :mem_id), 3,
  'three messages were counted');

select * from finish();
rollback;
