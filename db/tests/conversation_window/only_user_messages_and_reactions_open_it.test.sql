-- Echoes from the business's app, statuses and system messages never open the window; a user's reaction does.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe.ingest_webhook(wapipe_tests.echo_payload('250700000002', 'staff here'), 'e');
select wapipe.ingest_webhook(wapipe_tests.sample('status_read'), 's');
select is((select closes_at from wapipe.conversation_window(wapipe_tests.conv('250700000002'))), null,
  'an echo and a status open nothing');

select wapipe_tests.inbound_ago('250700000002', '30 hours');
select wapipe_tests.reaction_ago('250700000002', '1 hour');
select ok((select open and abs(seconds_left - 23 * 3600) < 5
           from wapipe.conversation_window(wapipe_tests.conv('250700000002'))),
  'a reaction 1 h ago opens the window until 23 h from now');
select is((select count(*)::int from wapipe.processed_messages where message_type = 'reaction' and status = 'done'), 1,
  'the reaction itself is only recorded');

select * from finish();
rollback;
