-- circuit_breaker_status: effective state, current window, policy and endpoint health.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe.breaker_configure('support-bot', 'agent');
select wapipe_tests.record_calls('support-bot', 3, 2);
-- One old bucket outside the 60 s window.
insert into wapipe.breaker_buckets (name, bucket_at, calls, failures)
values ('support-bot', date_trunc('second', now()) - interval '2 minutes', 7, 7);
select wapipe.record_endpoint_health('support-bot', 'http://a1.test', true);
select wapipe.record_endpoint_health('support-bot', 'http://a2.test', false, 'HTTP 503');

select wapipe_tests.open_breaker('graph-api', 61);

select results_eq(
  $$ select name, kind, state, window_calls, window_failures, window_failure_rate, failure_rate,
            open_seconds, times_opened, last_error, healthy_endpoints, total_endpoints
       from wapipe.circuit_breaker_status $$,
  $$ values ('graph-api'::text, 'default'::text, 'half_open'::text, 0::bigint, 0::bigint, null::numeric,
             0.5::numeric, 60, 1, 'HTTP 503'::text, 0::bigint, 0::bigint),
            ('support-bot', 'agent', 'closed', 5, 2, 0.4000, 0.6, 120, 0, 'HTTP 503', 1, 2) $$,
  'window counts only recent buckets; an open breaker past open_seconds shows half_open');
select results_eq(
  $$ select stored_state, since, half_open_at from wapipe.circuit_breaker_status where name = 'graph-api' $$,
  $$ values ('open'::text, now() - interval '1 second', now() - interval '1 second') $$,
  'stored open; pending half-open since opened_at + open_seconds');
select is((select since from wapipe.circuit_breaker_status where name = 'support-bot'),
  (select state_changed_at from wapipe.breakers where name = 'support-bot'), 'since = state_changed_at');

select * from finish();
rollback;
