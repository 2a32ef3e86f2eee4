-- The sender's token is taken on a message's first attempt only (a retry was already let in);
-- an exhausted bucket still claims the message, refused, so the worker can say so; without
-- rate_max no bucket is touched.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1');
select wapipe_tests.fail_n_times(1);  -- attempt 1 failed; the retry is attempt 2
select wapipe_tests.skip_backoff();
select wapipe_tests.enqueue_text('250700000002', 'hi', 'wamid.2');
select count(*) from wapipe_tests.rate_limit_calls('user:250700000002', 1, '1 hour', 1);  -- exhausted

create temp table before on commit drop as select key, tokens from wapipe.rate_limit_buckets;
create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', 1, '1 hour');
select results_eq($$ select from_wa_id, attempt, allowed, retry_after_ms > 0, agent from r order by from_wa_id $$,
  $$ values ('250700000001', 2, true, false, 'waiter'), ('250700000002', 1, false, true, null::text) $$,
  'the retry is let in without a token; the exhausted sender is refused (and claimed)');
select is((select count(*) from wapipe.rate_limit_buckets where key = 'user:250700000001'), 0::bigint,
  'the retry took no token');

select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000003', 'hi', 'wamid.3');
select is((select allowed from wapipe.claim_messages('worker-1', 30, 10, 'waiter')), true,
  'without rate_max every message is let in');
select is((select count(*) from wapipe.rate_limit_buckets), 0::bigint, 'and no bucket is written');
select * from finish();
rollback;
