-- context_items: message_contexts' items for stored messages, by the routing rule claim_messages applies.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'I want the MENU please', 'wamid.menu');
select wapipe_tests.enqueue_text('250700000002', 'hello', 'wamid.hello');
select wapipe_tests.enqueue_type('250700000003', 'image');
select wapipe_tests.enqueue_text('250700000004', 'menu again', 'wamid.retry');
select wapipe_tests.enqueue_text('250700000005', 'menu after a wait', 'wamid.waited');
select count(*) from wapipe.get_next_queue_message('worker-1', 30, 10);
update wapipe.processed_messages set attempts = 2 where wamid = 'wamid.retry';
update wapipe.processed_messages set deferrals = 1 where wamid = 'wamid.waited';
create temp table ids on commit drop as
  select array_agg(id order by from_wa_id desc) || array[-1::bigint] as ids from wapipe.processed_messages;
create temp table items on commit drop as
  select e.item, e.ord
  from jsonb_array_elements(wapipe.context_items((select ids from ids),
         '[{"keywords": ["menu"], "agent": "waiter"}]', 10)) with ordinality as e(item, ord);

select results_eq($$ select item->>'user_phone' from items order by ord $$,
  $$ values ('250700000005'), ('250700000004'), ('250700000003'), ('250700000002'), ('250700000001') $$,
  'one item per stored message, in the order asked; an unknown id is left out');
select is((select item->>'preferred_agent' from items where item->>'user_phone' = '250700000001'), 'waiter',
  'a text with a keyword prefers the rule''s agent');
select is((select count(*) from items where item->>'preferred_agent' is null), 2::bigint,
  'no keyword, or not a text: no preferred agent');
select results_eq($$ select item->>'user_phone' from items where item->>'rate_key' is not null order by ord $$,
  $$ values ('250700000003'), ('250700000002'), ('250700000001') $$,
  'a rate key on a first attempt that never waited only');
select is((select item->>'rate_key' from items where item->>'user_phone' = '250700000002'), 'user:250700000002',
  'the key is the sender''s');
select is_empty($$ select * from jsonb_array_elements(wapipe.context_items((select ids from ids), '[]', null)) e
                   where e->>'rate_key' is not null $$,
  'no rate limit: no rate key');
select * from finish();
rollback;
