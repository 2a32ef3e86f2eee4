-- While a conversation is handed off, the claim's context says handed_off: no rate token is taken (so no notice),
-- no workflow is offered, and the memory comes back only to keep the user's words; the window is told too.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'I want a human');
select wapipe_tests.enqueue_text('250700000002', 'hello');
select wapipe.start_workflow('250700000001', 'order', 'menu', '{}', interval '30 minutes', '300100200300400');
select wapipe.start_handoff(wapipe_tests.conv('250700000001'), 'operator:eric', 'asked', 30);

create temp table c as
  select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', '{waiter}', '[]', 1, '1 minute');
select is((select handed_off->>'by' from c where from_wa_id = '250700000001'), 'operator:eric',
  'the handed-off conversation''s message says handed_off, by whom');
select is((select handed_off from c where from_wa_id = '250700000002'), null, 'the other is not handed off');
select is((select workflow_id from c where from_wa_id = '250700000001'), null, 'no workflow step is offered');
select ok((select memory_id is not null and allowed from c where from_wa_id = '250700000001'),
  'allowed, with the memory to keep the words in');
select is((select count(*)::int from wapipe.rate_limit_buckets where key = 'user:250700000001'), 0,
  'no rate token taken: a handed-off user is never told to slow down');
select ok((select bool_and(abs(extract(epoch from window_closes_at - (now() + interval '24 hours'))) < 5) from c),
  'each context carries window_closes_at');
select * from finish();
rollback;
