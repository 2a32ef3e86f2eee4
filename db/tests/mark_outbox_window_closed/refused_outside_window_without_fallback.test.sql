-- Outside the window a free-form row without a fallback ends window_closed with its reason, never claimed again;
-- a template row is claimable and sendable whatever the window.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.inbound_ago('250700000001', '25 hours');
select wapipe_tests.outbox_row('250700000001') as late \gset
select wapipe_tests.outbox_row('250700000001',
  '{"type": "template", "template": {"name": "follow_up", "language": {"code": "en"}}}') as tmpl \gset

create temp table claimed as select * from wapipe.claim_outbox('sender-1', 10, 30);
select is((select window_open from claimed where id = :late), false, 'the sender is told the window is closed');
select wapipe.mark_outbox_window_closed(:late, 'sender-1', null,
  '24-hour customer service window closed (checked before sending; no outside_window template); not sent');
select results_eq($$ select status, error_code, last_error like '24-hour customer service window closed%' from wapipe.outbox where id = $$ || :late,
  $$ values ('window_closed'::text, null::integer, true) $$, 'window_closed with the reason, no Meta code');
select wapipe_tests.outbox_due(:late);
select is(array(select c.id from wapipe.claim_outbox('sender-1', 10, 30) c), array[:tmpl::bigint],
  'never claimed again; the template behind it is next, window closed or not');
select throws_ok($$ select wapipe.mark_outbox_window_closed($$ || :late || $$, 'sender-1', null, 'again') $$,
  'WA001', null, 'a settled row cannot be marked again');
select * from finish();
rollback;
