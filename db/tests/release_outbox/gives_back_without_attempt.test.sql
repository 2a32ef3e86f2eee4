-- release_outbox gives claimed rows back unsent: pending after the delay, the claim not counted as an attempt.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.outbox_row('250700000001') as a \gset
select wapipe_tests.outbox_row('250700000002') as b \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select throws_ok(format($$ select wapipe.release_outbox(array[%s, %s]::bigint[], 'sender-2', 0) $$, :a, :b), 'WA001', null,
  'a worker that holds none of them is refused');
select is(wapipe.release_outbox(array[:a, :b]::bigint[], 'sender-1', 5), 2, 'the holder releases both');
select results_eq(format($$ select status, attempts, locked_by, next_attempt_at = now() + interval '5 seconds'
                            from wapipe.outbox where id in (%s, %s) order by id $$, :a, :b),
  $$ values ('pending', 0, null::text, true), ('pending', 0, null::text, true) $$,
  'pending again after 5 s, attempts back to 0');
select is_empty($$ select * from wapipe.claim_outbox('sender-1', 10, 30) $$, 'not claimed before the delay');
update wapipe.outbox set next_attempt_at = now();
select is((select count(*) from wapipe.claim_outbox('sender-2', 10, 30)), 2::bigint, 'claimed again afterwards');

select * from finish();
rollback;
