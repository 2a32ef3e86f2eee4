-- ai_agent_usage: per agent breaker, last-24-hour calls, failure rate, p50/p95 and live sessions.
begin;
select plan(2);
select wapipe_tests.reset();

select wapipe.breaker_configure('support-bot', 'agent');
select wapipe.breaker_configure('sales-bot', 'agent');
select wapipe.breaker_configure('graph-api');   -- not an agent
insert into wapipe.service_calls (service, ok, duration_ms, called_at)
select 'support-bot', i <> 4, i * 100, now() - interval '1 minute' from generate_series(1, 5) i;
insert into wapipe.service_calls (service, ok, duration_ms, called_at) values
  ('support-bot', false, 99999, now() - interval '25 hours'),   -- outside the 24 hours
  ('graph-api', true, 10, now());
insert into wapipe.ai_conversation_memory (user_phone, agent_type, session_id, last_activity_at) values
  ('u1', 'support-bot', 's1', now() - interval '5 minutes'),
  ('u2', 'support-bot', 's2', now() - interval '29 minutes'),
  ('u3', 'support-bot', 's3', now() - interval '31 minutes'),
  ('u4', 'sales-bot', 's4', now() - interval '2 hours');

select results_eq(
  $$ select agent, calls, successes, failures, failure_rate, p50_ms, p95_ms, active_sessions
       from wapipe.ai_agent_usage $$,
  $$ values ('sales-bot'::text, 0::bigint, 0::bigint, 0::bigint, null::numeric, null::numeric, null::numeric, 0::bigint),
            ('support-bot', 5, 4, 1, 0.2000, 300.0, 480.0, 2) $$,
  'agents only; 5 calls in 24 h, 1 failed; p50 300 ms, p95 480 ms; 2 sessions active within 30 min');
select is((select breaker_state from wapipe.ai_agent_usage where agent = 'support-bot'), 'closed',
  'the agent''s breaker state is shown');

select * from finish();
rollback;
