-- A row without an outside_window template (none, or free-form) has no fallback: 22023, nothing stamped.
begin;
select plan(3);
select wapipe_tests.reset();
select wapipe_tests.outbox_row('250700000001') as plain \gset
select wapipe_tests.outbox_row('250700000002',
  '{"type": "text", "text": {"body": "x"}, "outside_window": {"type": "text", "text": {"body": "still free-form"}}}') as freeform \gset
select wapipe_tests.claim_outbox_ids();
select throws_ok($$ select wapipe.use_outbox_window_fallback($$ || :plain || $$, 'sender-1') $$, '22023', null,
  'no outside_window: refused');
select throws_ok($$ select wapipe.use_outbox_window_fallback($$ || :freeform || $$, 'sender-1') $$, '22023', null,
  'a free-form outside_window is no fallback');
select is((select count(*)::int from wapipe.outbox where window_fallback_at is not null), 0, 'nothing stamped');
select * from finish();
rollback;
