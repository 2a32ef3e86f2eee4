-- Three messages while handed off: each claimed in turn with handed_off, completed with no reply (as the worker
-- does), so the bot answers them zero times and the user's words stay in memory in their order.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'business_app', null, 30);
select wapipe_tests.enqueue_text('250700000001', 'one', null, '300100200300400', extract(epoch from now())::bigint - 3);
select wapipe_tests.enqueue_text('250700000001', 'two', null, '300100200300400', extract(epoch from now())::bigint - 2);
select wapipe_tests.enqueue_text('250700000001', 'three', null, '300100200300400', extract(epoch from now())::bigint - 1);

create temp table seen (n serial, handed_off boolean, body text);
do $$
declare c record;
begin
  for i in 1 .. 3 loop
    select * into c from wapipe.claim_messages('worker-1', 30, 10, 'waiter', '{waiter}', '[]', 30, '1 minute');
    insert into seen (handed_off, body) values (c.handed_off is not null, c.payload->'text'->>'body');
    perform wapipe.complete_message(c.msg_id, 'worker-1', null,
      jsonb_build_object('memory_id', c.memory_id,
                         'append', jsonb_build_array(jsonb_build_object('role', 'user', 'content', c.payload->'text'->>'body'))),
      null, 'handoff');
  end loop;
end $$;
select results_eq($$ select handed_off, body from seen order by n $$,
  $$ values (true, 'one'::text), (true, 'two'), (true, 'three') $$, 'each claimed handed off, in order');
select is((select count(*)::int from wapipe.outbox), 0, 'answered zero times: nothing in the outbox');
select is((select array_agg(e->>'content' order by o) from wapipe.ai_conversation_memory m,
                  jsonb_array_elements(m.messages) with ordinality as x(e, o) where m.user_phone = '250700000001'),
  array['one', 'two', 'three'], 'kept in memory in order');
select is((select array_agg(distinct handled_by) from wapipe.processed_messages), array['handoff'],
  'each recorded as handled by the handoff');
select * from finish();
rollback;
