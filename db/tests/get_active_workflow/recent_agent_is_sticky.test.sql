-- get_recent_agent: the agent of the user's latest live memory session, NULL once idle.
begin;
select plan(3);
select wapipe_tests.reset();

select is(wapipe.get_recent_agent('250700000001'), NULL, 'no session: no agent');
select wapipe.update_conversation_memory((wapipe.get_or_create_conversation_memory('250700000001', 'waiter')).id, 'user', 'hi');
select wapipe.update_conversation_memory((wapipe.get_or_create_conversation_memory('250700000001', 'billing')).id, 'user', 'refund');
update wapipe.ai_conversation_memory set last_activity_at = now() - interval '1 minute' where agent_type = 'waiter';
select is(wapipe.get_recent_agent('250700000001'), 'billing', 'the most recently active agent');
update wapipe.ai_conversation_memory set last_activity_at = now() - interval '2 hours';
select is(wapipe.get_recent_agent('250700000001'), NULL, 'sessions idle past memory.session_idle_seconds do not stick');

select * from finish();
rollback;
