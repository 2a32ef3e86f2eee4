-- An echo from the business's app hands the conversation to staff until the echo + handoff.echo_minutes,
-- extends it with each new echo, is kept in the user's memory as a staff turn, and counts once however often delivered.
begin;
select plan(6);
select wapipe_tests.reset();

select wapipe_tests.enqueue_text('250700000001', 'hello');
select wapipe.get_or_create_conversation_memory('250700000001', 'waiter');
select wapipe_tests.echo_payload('250700000001', 'Eric here, I will help you', extract(epoch from now())::bigint - 60, 'wamid.echo.1') as echo1 \gset
select wapipe.ingest_webhook(:'echo1', 'e1');
select results_eq(
  $$ select started_by, abs(extract(epoch from until - (now() - interval '1 minute' + interval '30 minutes'))) < 2
     from wapipe.list_handoffs() $$,
  $$ values ('business_app'::text, true) $$, 'started until the echo''s time + 30 min');
select is((select messages->-1->>'content' from wapipe.ai_conversation_memory where user_phone = '250700000001'),
  '[staff] Eric here, I will help you', 'the echo is in the user''s memory as a staff turn');

select wapipe.ingest_webhook(:'echo1', 'e1-again');
select is((select message_count from wapipe.ai_conversation_memory where user_phone = '250700000001'), 1,
  'a redelivered echo is not remembered twice');

select wapipe.ingest_webhook(wapipe_tests.echo_payload('250700000001', 'still there?', extract(epoch from now())::bigint), 'e2');
select ok((select until > now() + interval '29 minutes' and extended_by = 'business_app' from wapipe.handoffs),
  'a new echo extends it');
select is((select count(*)::int from wapipe.handoffs), 1, 'one handoff');

update wapipe.settings set value = '0' where key = 'handoff.echo_minutes';
select wapipe.ingest_webhook(wapipe_tests.echo_payload('250700000003', 'hi', extract(epoch from now())::bigint), 'e3');
select is((select count(*)::int from wapipe.handoffs where user_key = '250700000003'), 0,
  'handoff.echo_minutes = 0: echoes hand nothing off');
select * from finish();
rollback;
