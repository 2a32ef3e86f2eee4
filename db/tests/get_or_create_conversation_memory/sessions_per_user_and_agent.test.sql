-- Sessions are per (user, agent): another agent or another user gets its own session.
begin;
select plan(3);
select wapipe_tests.reset();

select (wapipe.get_or_create_conversation_memory('250700000001', 'support')).id as support_id \gset
select isnt((wapipe.get_or_create_conversation_memory('250700000001', 'sales')).id, :support_id::bigint,
  'another agent of the same user gets another session');
select isnt((wapipe.get_or_create_conversation_memory('250700000002', 'support')).id, :support_id::bigint,
  'another user of the same agent gets another session');
select is((wapipe.get_or_create_conversation_memory('250700000001', 'support')).id, :support_id::bigint,
  'the first pair still gets its session');

select * from finish();
rollback;
