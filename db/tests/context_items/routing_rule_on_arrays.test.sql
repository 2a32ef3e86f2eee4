-- wapipe._context_items, the routing rule, on the claim's facts as aligned arrays: a keyword
-- agent for a text with a keyword, a rate key on a first attempt that never waited, none
-- with bypass_workflow or without a rate limit.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'the MENU please', 'wamid.menu');
select wapipe_tests.enqueue_text('250700000002', 'menu after a wait', 'wamid.waited');
update wapipe.processed_messages set deferrals = 1 where wamid = 'wamid.waited';
create temp table m on commit drop as
select array_agg(id order by from_wa_id) as ids, array_agg(from_wa_id order by from_wa_id) as users
from wapipe.processed_messages;

select results_eq(
  $$ select r.preferred_agents, r.rate_keys
     from m, wapipe._context_items(m.ids || -1::bigint || -2::bigint, m.users || array['250700000003', '250700000004'],
                                   array['text', 'text', 'image', 'text'], array['the MENU please', 'menu', null, 'menu'],
                                   array[1, 1, 1, 2], '[{"keywords": ["menu"], "agent": "waiter"}]', true, false) r $$,
  $$ values (array['waiter', 'waiter', null, 'waiter'], array['user:250700000001', null, null, null]) $$,
  'keyword agents for texts; a rate key only on a first attempt that never waited');
select is((select r.rate_keys from m, wapipe._context_items(m.ids, m.users, array['text', 'text'], array['a', 'b'],
                                                          array[1, 1], '[]', true, true) r),
  array[null, null]::text[], 'bypass_workflow: no rate key');
select is((select r.rate_keys from m, wapipe._context_items(m.ids, m.users, array['text', 'text'], array['a', 'b'],
                                                          array[1, 1], '[]', false, false) r),
  array[null, null]::text[], 'not rate limited: no rate key');
select is((select row(r.preferred_agents, r.rate_keys)::text
           from wapipe._context_items('{}', '{}', '{}', '{}', '{}', '[]', true, false) r),
  '(,)', 'no messages: NULL arrays');
select * from finish();
rollback;
