-- cleanup_conversation_memory deletes sessions idle longer than the interval (7 days by default).
begin;
select plan(5);
select wapipe_tests.reset();

select (wapipe.get_or_create_conversation_memory('250700000001', 'support')).id as old_id \gset
select (wapipe.get_or_create_conversation_memory('250700000002', 'support')).id as recent_id \gset
select (wapipe.get_or_create_conversation_memory('250700000003', 'support')).id as fresh_id \gset
update wapipe.ai_conversation_memory set last_activity_at = now() - interval '8 days' where id = :old_id;
update wapipe.ai_conversation_memory set last_activity_at = now() - interval '6 days' where id = :recent_id;

select is(wapipe.cleanup_conversation_memory(), 1, 'one session idle for more than 7 days is deleted');
select results_eq($$ select id from wapipe.ai_conversation_memory order by id $$,
  format($$ values (%s::bigint), (%s::bigint) $$, :recent_id, :fresh_id),
  'the sessions active within 7 days are kept');
select is(wapipe.cleanup_conversation_memory('1 day'), 1, 'a shorter interval deletes more');
select is(wapipe.cleanup_conversation_memory(), 0, 'nothing left to delete');
select throws_ok($$ select wapipe.cleanup_conversation_memory('0 seconds') $$, '22023', null,
  'a non-positive interval is refused');

select * from finish();
rollback;
