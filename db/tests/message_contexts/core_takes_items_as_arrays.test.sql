-- wapipe._message_contexts, the rule message_contexts parses its JSON items for: items as
-- aligned arrays, a NULL array meaning NULL for every item; message_contexts answers what
-- it answers for the parsed arrays, and both refuse an empty user.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.start_workflow('250700000003', 'order', 'choose_item', '{"cart": []}');
select wapipe.check_rate_limit('user:250700000002', 1, '1 minute');  -- spends user 2's only token

create temp table r on commit drop as
select * from wapipe._message_contexts(
  array['250700000001', '250700000002', '250700000003', '250700000004'],
  array[null, null, null, 'sales'], array['user:250700000001', 'user:250700000002', null, null],
  null, null, 'waiter', array['waiter'], 1, '1 minute');
select results_eq($$ select ord, allowed, agent, memory_id is not null, workflow_type, handed_off from r order by ord $$,
  $$ values (1, true, 'waiter', true, null::text, null::jsonb), (2, false, null, false, null, null),
            (3, true, null, false, 'order', null), (4, true, 'sales', true, null, null) $$,
  'item i is users[i], preferred_agents[i], rate_keys[i]; NULL arrays: no conversation key, no bypass');

select results_eq(
  $$ select ord, allowed, agent, memory_id, session_id, workflow_type
     from wapipe.message_contexts('[{"user_phone": "250700000001"}, {"user_phone": "250700000004", "preferred_agent": "sales"},
                                    {"user_phone": "250700000003", "bypass_workflow": true}]', 'waiter', array['waiter'])
     order by ord $$,
  $$ select ord, allowed, agent, memory_id, session_id, workflow_type
     from wapipe._message_contexts(array['250700000001', '250700000004', '250700000003'], array[null, 'sales', null],
                                   null, null, array[false, false, true], 'waiter', array['waiter'], null, null)
     order by ord $$,
  'message_contexts answers what the core answers for its parsed items (the sessions found again)');

select throws_ok($$ select * from wapipe._message_contexts(array['250700000001', ''], null, null, null, null, 'waiter', '{}', null, null) $$,
  '22023', 'message_context needs a user_phone and a default_agent', 'an empty user is refused');
select is_empty($$ select * from wapipe._message_contexts(null, null, null, null, null, 'waiter', '{}', null, null) $$,
  'no items: no rows');
select * from finish();
rollback;
