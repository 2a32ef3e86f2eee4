-- system_health counts the replies of the last day held back by the 24-hour window and the conversations with a human now.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.inbound_ago('250700000001', '25 hours');
select wapipe_tests.outbox_row('250700000001') as late \gset
select wapipe_tests.claim_outbox_ids();
select wapipe.mark_outbox_window_closed(:late, 'sender-1', null, 'window closed');
select wapipe.start_handoff(wapipe_tests.conv('250700000002'), 'operator', null, 30);
select wapipe.start_handoff(wapipe_tests.conv('250700000003'), 'operator', null, 30);
select wapipe.end_handoff(wapipe_tests.conv('250700000003'), 'operator');
select is((select (details->>'outbox_window_closed_last_day')::int from wapipe.system_health()), 1,
  'one reply held back by the window');
select is((select (details->>'handed_off')::int from wapipe.system_health()), 1,
  'one conversation with a human now (the ended one does not count)');
select ok(not exists (select 1 from wapipe.system_health() h, unnest(h.reasons) r where r ilike '%window%'),
  'neither is a fault: no reason of its own');
select * from finish();
rollback;
