-- message_contexts, bypass_workflow: a message the user's active workflow did not take gets the
-- agent and memory it would get without the workflow (preferred, else sticky, else default),
-- and the workflow stays as it was.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.start_workflow('250700000001', 'order', 'choose_item', '{"cart": []}');
select wapipe.start_workflow('250700000002', 'order', 'choose_item', '{}');
select wapipe.start_workflow('250700000003', 'order', 'choose_item', '{}');
select wapipe.update_conversation_memory(
  (wapipe.get_or_create_conversation_memory('250700000002', 'billing')).id, 'user', 'my bill');
create temp table r on commit drop as
select * from wapipe.message_contexts(
  '[{"user_phone": "250700000001", "bypass_workflow": true},
    {"user_phone": "250700000002", "bypass_workflow": true},
    {"user_phone": "250700000003", "preferred_agent": "sales", "bypass_workflow": true},
    {"user_phone": "250700000001", "bypass_workflow": false}]',
  'waiter', array['waiter', 'billing']);
select results_eq($$ select ord, agent, memory_id is not null, workflow_id from r where ord < 4 order by ord $$,
  $$ values (1, 'waiter', true, null::bigint), (2, 'billing', true, null), (3, 'sales', true, null) $$,
  'default, sticky session agent, preferred agent: as if no workflow were active');
select is((select memory_messages->0->>'content' from r where ord = 2), 'my bill',
  'the sticky session''s history comes along');
select is((select workflow_type from r where ord = 4), 'order', 'without the flag the workflow takes the message');
select is((select count(*) from wapipe.workflow_states where status = 'active'), 3::bigint,
  'the workflows stay active');
select * from finish();
rollback;
