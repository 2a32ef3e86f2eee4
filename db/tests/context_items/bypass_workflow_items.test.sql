-- context_items with bypass_workflow: the same routing rule (keyword agent), items flagged to
-- look at no workflow, and no rate key (the message's first context took its token).
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'the MENU please', 'wamid.menu');
select wapipe_tests.enqueue_text('250700000002', 'hello', 'wamid.hello');
select count(*) from wapipe.get_next_queue_message('worker-1', 30, 10);
create temp table items on commit drop as
  select e.item, e.ord
  from jsonb_array_elements(wapipe.context_items(
         (select array_agg(id order by from_wa_id) from wapipe.processed_messages),
         '[{"keywords": ["menu"], "agent": "waiter"}]', 10, true)) with ordinality as e(item, ord);
select results_eq($$ select item->>'user_phone', item->>'preferred_agent' from items order by ord $$,
  $$ values ('250700000001', 'waiter'), ('250700000002', null) $$,
  'the keyword rule still routes');
select is((select count(*) from items where (item->'bypass_workflow')::boolean), 2::bigint,
  'every item bypasses the workflow');
select is((select count(*) from items where item->>'rate_key' is not null), 0::bigint,
  'no rate key: no second token for the same message');
select * from finish();
rollback;
