-- NULL policy comes from breaker.<kind>.*, then breaker.default.*; values given override them.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe.breaker_configure('std');
select wapipe.breaker_configure('bot', 'agent');
select wapipe.breaker_configure('pay', 'payment');
select wapipe.breaker_configure('custom', 'media', 0.25, 30, 120, 4, 1);

select results_eq(
  $$ select name, kind, failure_rate, open_seconds, window_seconds, min_calls, half_open_calls
       from wapipe.circuit_breaker_status order by name $$,
  $$ values ('bot'::text, 'agent'::text, 0.6, 120, 60, 10, 3),
            ('custom', 'media', 0.25, 30, 120, 4, 1),
            ('pay', 'payment', 0.5, 60, 60, 10, 3),
            ('std', 'default', 0.5, 60, 60, 10, 3) $$,
  'effective policies: defaults 50 %/60 s, agents 60 %/120 s, payment falls back to default, overrides win');

-- Reconfiguring with NULLs goes back to the settings; the state is kept.
select wapipe_tests.record_calls('custom', 0, 4);
select wapipe.breaker_configure('custom', 'media');
select results_eq(
  $$ select stored_state, failure_rate, open_seconds from wapipe.circuit_breaker_status where name = 'custom' $$,
  $$ values ('open'::text, 0.5, 60) $$, 'NULLs mean settings again; state kept');

select throws_ok($$ select wapipe.breaker_configure('x', 'webhook') $$, '22023', null, 'unknown kind refused');
select throws_ok($$ select wapipe.breaker_configure('x', 'agent', 50) $$, '22023', null,
  'failure_rate is a fraction, 50 is refused');
select throws_ok($$ select wapipe.breaker_configure('x', 'agent', open_seconds => 0) $$, '22023', null,
  'non-positive open_seconds refused');

select * from finish();
rollback;
