-- Meta's 131047 (window closed between check and send) ends the row window_closed too, code kept; the next row goes.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.inbound_ago('250700000001', '1 hour');
select wapipe_tests.outbox_row('250700000001') as first \gset
select wapipe_tests.outbox_row('250700000001') as second \gset
select wapipe_tests.claim_outbox_ids();
select wapipe_tests.start_send(:first);
select wapipe.mark_outbox_window_closed(:first, 'sender-1', 131047, 'Meta 131047: re-engagement message');
select results_eq($$ select status, error_code from wapipe.outbox where id = $$ || :first,
  $$ values ('window_closed'::text, 131047) $$, 'window_closed with Meta''s code');
select is((select count(*)::int from wapipe.outbox where status = 'failed'), 0, 'nothing counted as failed');
select is(array(select wapipe_tests.claim_outbox_ids()), array[:second::bigint], 'the user''s next row is free');
select * from finish();
rollback;
