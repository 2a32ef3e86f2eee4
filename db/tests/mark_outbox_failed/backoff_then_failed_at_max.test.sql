-- Retryable failures back off 1 s, 2 s, 4 s, 8 s (capped at 60 s); the 5th failed attempt fails the row for good.
begin;
select plan(8);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
create temp table delays (attempt int, delay interval);
do $$
declare
  outbox_id bigint := (select max(id) from wapipe.outbox);
  next_at timestamptz;
begin
  for i in 1..5 loop
    perform wapipe_tests.outbox_due(outbox_id);
    perform wapipe_tests.claim_outbox_ids('sender-1');
    next_at := wapipe.mark_outbox_failed(outbox_id, 'sender-1', 130429, 'throughput limit', true);
    insert into delays values (i, next_at - now());
  end loop;
end $$;

select is((select delay from delays where attempt = 1), interval '1 second', 'after attempt 1: 1 s');
select is((select delay from delays where attempt = 2), interval '2 seconds', 'after attempt 2: 2 s');
select is((select delay from delays where attempt = 3), interval '4 seconds', 'after attempt 3: 4 s');
select is((select delay from delays where attempt = 4), interval '8 seconds', 'after attempt 4: 8 s');
select is((select delay from delays where attempt = 5), null::interval, 'after attempt 5 (max): NULL, failed for good');
select results_eq(format($$ select status, attempts, error_code, last_error, locked_until is null from wapipe.outbox where id = %s $$, :id),
  $$ values ('failed', 5, 130429, 'throughput limit', true) $$, 'failed with the last error code and reason');

-- the cap
update wapipe.settings set value = '3' where key = 'outbox.max_delay_seconds';
select wapipe_tests.outbox_row('250700000009') as capped \gset
update wapipe.outbox set attempts = 3 where id = :capped;
select wapipe_tests.claim_outbox_ids('sender-1');
select is(wapipe.mark_outbox_failed(:capped, 'sender-1', 131000, 'generic', true) - now(), interval '3 seconds',
  'the delay is capped at outbox.max_delay_seconds');
select throws_ok(format($$ select wapipe.mark_outbox_failed(%s, 'sender-1', 131000, 'again', true) $$, :capped),
  'WA001', null, 'once given back for a retry the worker no longer holds it');

select * from finish();
rollback;
