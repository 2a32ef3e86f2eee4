-- Outside the window a row carrying an outside_window template gives that template to send, stamped on the row.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.inbound_ago('250700000001', '25 hours');
select wapipe_tests.outbox_row('250700000001',
  '{"type": "text", "text": {"body": "your order is ready"},
    "outside_window": {"type": "template", "template": {"name": "order_ready", "language": {"code": "en"}}}}') as row_id \gset
select is((select window_open from wapipe.claim_outbox('sender-1', 10, 30)), false, 'claimed with the window closed');
select is(wapipe.use_outbox_window_fallback(:row_id, 'sender-1'),
  '{"type": "template", "template": {"name": "order_ready", "language": {"code": "en"}}}'::jsonb,
  'the template to send instead');
select wapipe_tests.start_send(:row_id);
select wapipe.mark_outbox_sent(:row_id, 'sender-1', 'wamid.TEMPLATE1');
select results_eq($$ select status, window_fallback_at is not null, body->'text'->>'body' from wapipe.outbox where id = $$ || :row_id,
  $$ values ('sent'::text, true, 'your order is ready'::text) $$,
  'sent, stamped as the fallback, the free-form body kept for the record');
select is((select count(*)::int from wapipe.outbox where status = 'window_closed'), 0, 'nothing refused');
select * from finish();
rollback;
