-- Open circuit breakers degrade the system; three or more are critical; a half-open one is only a detail.
begin;
select plan(5);
select wapipe_tests.reset();

insert into wapipe.breakers (name, kind, state, opened_at, state_changed_at)
values ('agent-a', 'agent', 'open', now() - interval '10 seconds', now() - interval '10 seconds');
select results_eq($$ select status, reasons, breakers_open from wapipe.system_health() $$,
  $$ values ('degraded'::text, array['breaker open: agent-a'], 1) $$, 'one open breaker: degraded');

insert into wapipe.breakers (name, state, opened_at) values
  ('graph-api', 'open', now()), ('payments', 'open', now());
select results_eq($$ select status, breakers_open from wapipe.system_health() $$,
  $$ values ('critical'::text, 3) $$, 'three open breakers: critical');

-- past open_seconds (agent: 120 s) an open breaker admits trials: no longer counted as open
update wapipe.breakers set opened_at = now() - interval '121 seconds' where name = 'agent-a';
select is((select breakers_open from wapipe.system_health()), 2, 'an open breaker due for trials is half-open');
select is((select details->'breakers_half_open' from wapipe.system_health()), '["agent-a"]'::jsonb,
  'and listed as half-open in details');
select is((select details->'breakers_open' from wapipe.system_health()), '["graph-api", "payments"]'::jsonb,
  'open breakers named in details');
select * from finish();
rollback;
